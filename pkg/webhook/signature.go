package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the HTTP header that carries the signature.
const SignatureHeader = "Hopper-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given a tolerance <= 0.
const DefaultTolerance = 5 * time.Minute

// Verification errors; Verify wraps one of them.
var (
	ErrNoSignature        = errors.New("webhook: no signature header")
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	ErrStaleTimestamp     = errors.New("webhook: signature timestamp outside tolerance")
	ErrSignatureMismatch  = errors.New("webhook: no matching signature")
	ErrEmptySecret        = errors.New("webhook: empty secret")
)

// Sign returns the Hopper-Signature header value for body sent at ts:
// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
func Sign(secret []byte, ts time.Time, body []byte) string {
	t := ts.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(mac(secret, t, body))
}

// SignAll returns the Hopper-Signature header value for body sent at ts,
// signed by each of secrets in turn: `t=<unix seconds>,v1=<hex>,v1=<hex>…`
// (one timestamp, one v1 per secret, in the order given). A sender
// rotating secrets signs with the new and the old one, so receivers
// verify with either while they move over, as Stripe does.
func SignAll(secrets [][]byte, ts time.Time, body []byte) string {
	t := ts.Unix()
	var b strings.Builder
	b.WriteString("t=" + strconv.FormatInt(t, 10))
	for _, s := range secrets {
		b.WriteString(",v1=" + hex.EncodeToString(mac(s, t, body)))
	}
	return b.String()
}

// Verify checks a Hopper-Signature header against body. It fails when the
// header is missing or malformed, when its timestamp is more than tolerance
// away from now (either way; tolerance <= 0 means DefaultTolerance), or
// when none of its v1 values is the HMAC of "<t>.<body>" under secret.
// Several v1 values are allowed so a sender can sign with an old and a new
// secret during rotation; unknown schemes (v0, v2…) are ignored. The
// comparison is constant-time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return ErrEmptySecret
	}
	if strings.TrimSpace(header) == "" {
		return ErrNoSignature
	}
	t, sigs, err := parseHeader(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if age := now.Sub(time.Unix(t, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: timestamp %d is %s from now", ErrStaleTimestamp, t, age.Round(time.Second))
	}
	want := mac(secret, t, body)
	for _, s := range sigs {
		if hmac.Equal(want, s) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

// parseHeader splits `t=…,v1=…[,v1=…]` into the timestamp and the decoded
// v1 signatures.
func parseHeader(header string) (int64, [][]byte, error) {
	var (
		t     int64
		haveT bool
		sigs  [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: %q is not key=value", ErrMalformedSignature, part)
		}
		switch k {
		case "t":
			if haveT {
				return 0, nil, fmt.Errorf("%w: more than one t", ErrMalformedSignature)
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, nil, fmt.Errorf("%w: bad timestamp: %w", ErrMalformedSignature, err)
			}
			t, haveT = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				continue // not a v1 signature we could have produced
			}
			sigs = append(sigs, b)
		}
	}
	if !haveT {
		return 0, nil, fmt.Errorf("%w: no timestamp", ErrMalformedSignature)
	}
	if len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: no v1 signature", ErrMalformedSignature)
	}
	return t, sigs, nil
}

func mac(secret []byte, t int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strconv.FormatInt(t, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
