package api

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSniffAudio(t *testing.T) {
	t.Parallel()
	wav := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, 36)...)
	wav = append(wav, []byte("WAVEfmt ")...)
	wav = append(wav, make([]byte, 32)...)
	f, _, ok := sniffAudio(wav)
	assert.True(t, ok)
	assert.Equal(t, audioFormat{"wav", "audio/wav"}, f)

	f, _, ok = sniffAudio([]byte("fLaC\x00\x00\x00\x22rest-of-stream"))
	assert.True(t, ok)
	assert.Equal(t, "flac", f.ext)

	_, detected, ok := sniffAudio([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	assert.False(t, ok)
	assert.Equal(t, "image/png", detected)
	_, detected, ok = sniffAudio([]byte("just some text"))
	assert.False(t, ok)
	assert.Equal(t, "text/plain", detected)
}

func TestFormPriority(t *testing.T) {
	t.Parallel()
	assert.Nil(t, formPriority(" "))
	assert.Equal(t, `"high"`, string(formPriority("high")))
	assert.Equal(t, `3`, string(formPriority("3")))
}
