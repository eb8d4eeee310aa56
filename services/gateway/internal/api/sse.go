package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// sseWriter writes Server-Sent Events messages and flushes each one, so a
// message reaches the client as soon as it is written rather than when a
// buffer fills.
type sseWriter struct {
	w     io.Writer
	flush func()
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	s := &sseWriter{w: w, flush: func() {}}
	if f, ok := w.(http.Flusher); ok {
		s.flush = f.Flush
	}
	return s
}

// message writes one message: id (omitted when 0, which leaves the
// client's last event id as it was), event type and data as one line of
// JSON (json.Marshal never emits a raw newline).
func (s *sseWriter) message(id int64, event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	var b bytes.Buffer
	if id > 0 {
		b.WriteString("id: " + strconv.FormatInt(id, 10) + "\n")
	}
	b.WriteString("event: " + event + "\n")
	b.WriteString("data: ")
	b.Write(raw)
	b.WriteString("\n\n")
	return s.write(b.Bytes())
}

// comment writes a comment line, which clients ignore; it keeps idle
// connections (and proxies in between) from timing out.
func (s *sseWriter) comment(text string) error {
	return s.write([]byte(": " + text + "\n\n"))
}

func (s *sseWriter) write(p []byte) error {
	if _, err := s.w.Write(p); err != nil {
		return fmt.Errorf("write event stream: %w", err)
	}
	s.flush()
	return nil
}
