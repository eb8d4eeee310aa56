package api

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gabriel-vasile/mimetype"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// audioFormat is an accepted recording type: the extension the provider
// reads the format from, and the media type the artifact is stored with.
type audioFormat struct {
	ext, contentType string
}

// audioFormats maps a sniffed media type to an accepted format: what the
// OpenAI audio API takes (mp3, mp4/m4a, wav, webm, ogg, flac).
var audioFormats = []struct {
	detected string
	format   audioFormat
}{
	{"audio/mpeg", audioFormat{"mp3", "audio/mpeg"}},
	{"audio/wav", audioFormat{"wav", "audio/wav"}},
	{"audio/flac", audioFormat{"flac", "audio/flac"}},
	{"audio/ogg", audioFormat{"ogg", "audio/ogg"}},
	{"application/ogg", audioFormat{"ogg", "audio/ogg"}},
	{"audio/webm", audioFormat{"webm", "audio/webm"}},
	{"video/webm", audioFormat{"webm", "audio/webm"}},
	{"audio/x-m4a", audioFormat{"m4a", "audio/mp4"}},
	{"audio/mp4", audioFormat{"m4a", "audio/mp4"}},
	{"video/mp4", audioFormat{"mp4", "video/mp4"}},
}

// supportedAudio lists the accepted formats for error details.
var supportedAudio = []string{"mp3", "mp4", "m4a", "wav", "webm", "ogg", "flac"}

// audioSniffLen is how much of a recording sniffAudio looks at: what
// mimetype reads by default.
const audioSniffLen = 3072

// sniffAudio detects a recording's format from its bytes; ok is false for
// anything else, with the detected media type.
func sniffAudio(data []byte) (f audioFormat, detected string, ok bool) {
	mt := mimetype.Detect(data)
	for _, af := range audioFormats {
		if mt.Is(af.detected) {
			return af.format, mt.String(), true
		}
	}
	detected, _, _ = mime.ParseMediaType(mt.String())
	if detected == "" {
		detected = mt.String()
	}
	return audioFormat{}, detected, false
}

// uploadTranscription stores a multipart recording (field "file",
// optional "language" and "priority", before or after it) as the input
// artifact of a new chat.transcribe job, both in one transaction, then
// publishes the job. Key, plan, quota and an upload slot are checked
// before the body is read; the bytes are sniffed from the file's head,
// not trusted to the client's type, streamed once into Postgres, and
// never go into AMQP.
func (a *API) uploadTranscription(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	plan, ok := a.callerPlan(c, p)
	if !ok {
		return
	}
	release, ok := a.startUpload(c, p, plan, false)
	if !ok {
		return
	}
	defer release()
	up, ok := openUpload(c, a.opts.MaxAudioBytes, audioSniffLen, "recording", "HOPPER_MAX_AUDIO_BYTES", "language", "priority")
	if !ok {
		return
	}
	format, detected, ok := sniffAudio(up.Head)
	if !ok {
		httpx.Abort(c, http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia,
			"the file is "+detected+", not a supported recording (mp3, mp4, m4a, wav, webm, ogg, flac)",
			map[string]any{"detected": detected, "supported": supportedAudio})
		return
	}
	artifact := "input." + format.ext
	// The job is built once the whole body is read: its fields may follow
	// the file. A refusal here rolls the stored bytes back.
	var invalid error
	build := func() (jobstore.NewJob, error) {
		language := strings.TrimSpace(up.Field("language"))
		if err := product.CheckLanguage(language); err != nil {
			invalid = err
			return jobstore.NewJob{}, err
		}
		payload, err := json.Marshal(product.TranscribePayload{Artifact: artifact, Filename: cleanFilename(up.Filename), Language: language})
		if err != nil {
			return jobstore.NewJob{}, err
		}
		priority := formPriority(up.Field("priority"))
		spec, err := a.validate(c.Request.Context(), jobs.SubmitRequest{Kind: product.KindChatTranscribe, Payload: payload, Priority: priority})
		if err == nil {
			err = applyPlan(&spec, priority, false, plan)
		}
		if err != nil {
			invalid = err
			return jobstore.NewJob{}, err
		}
		return jobstore.NewJob{OwnerID: p.User.ID, Spec: spec, JobsPerHour: plan.JobsPerHour}, nil
	}
	ctx := c.Request.Context()
	job, _, err := a.db.uploads.CreateJobWithUpload(ctx, content.NewArtifact{Name: artifact, ContentType: format.contentType, Body: up.copyTo},
		build, a.opts.Now())
	switch {
	case err == nil:
	case invalid != nil:
		a.validationError(c, invalid)
		return
	case a.quotaError(c, plan, err) || answerUploadError(c, err):
		return
	default:
		a.internalError(c, "create transcription job", err)
		return
	}
	a.accepted(ctx, job)
	c.JSON(http.StatusAccepted, acceptedBody(job))
}

// formPriority turns a form field into the JSON a SubmitRequest takes: a
// number as is, a name ("high") as a string; empty means the default.
func formPriority(v string) json.RawMessage {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if _, err := strconv.Atoi(v); err == nil {
		return json.RawMessage(v)
	}
	raw, _ := json.Marshal(v) // a string always marshals
	return raw
}

// artifactCSP keeps an artifact opened in a browser from running scripts
// on the API's origin (an SVG image can carry them): the response is
// sandboxed and may load nothing.
const artifactCSP = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"

// getArtifact serves a job's artifact with its stored media type. Another
// user's job is a 404, as for GET /v1/jobs/{id}.
func (a *API) getArtifact(c *gin.Context) {
	job, ok := a.loadJob(c)
	if !ok {
		return
	}
	name := c.Param("name")
	art, err := a.db.jobs.GetArtifact(c.Request.Context(), currentPrincipal(c).ownerScope(), job.ID, name)
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "artifact not found", map[string]any{"name": name})
		return
	}
	if err != nil {
		a.internalError(c, "get artifact", err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Length", strconv.Itoa(len(art.Data)))
	disposition := mime.FormatMediaType("inline", map[string]string{"filename": art.Name})
	if disposition == "" {
		disposition = "inline"
	}
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", artifactCSP)
	h.Set("Cache-Control", "private, no-cache")
	c.Data(http.StatusOK, art.ContentType, art.Data)
}

// ArtifactView is a file a job consumed or produced, in GET
// /v1/jobs/{id}; URL is where GET serves its bytes.
type ArtifactView struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	URL         string `json:"url"`
}

// artifactViews lists a job's artifacts for the job view ([] for none).
func artifactViews(jobID uuid.UUID, arts []content.ArtifactInfo) []ArtifactView {
	out := make([]ArtifactView, 0, len(arts))
	for _, a := range arts {
		out = append(out, ArtifactView{Name: a.Name, ContentType: a.ContentType, SizeBytes: a.SizeBytes,
			URL: "/v1/jobs/" + jobID.String() + "/artifacts/" + url.PathEscape(a.Name)})
	}
	return out
}
