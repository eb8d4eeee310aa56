// Package log builds the zap logger every Hopper service uses: JSON lines in
// stage and prod (for log pipelines), colourless console lines in dev (for
// people), and the standard job fields so a job can be followed across the
// gateway and the workers by grepping its id.
package log

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger for service in env ("dev", "stage" or "prod") at
// level ("debug", "info", "warn", "error").
func New(service, env, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	var cfg zap.Config
	if env == "dev" {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "ts"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	logger, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return logger.With(zap.String("service", service)), nil
}

// JobID, Kind and Attempt are the standard job fields.
func JobID(id string) zap.Field { return zap.String("job_id", id) }

// Kind is the job kind field.
func Kind(kind string) zap.Field { return zap.String("kind", kind) }

// Attempt is the attempt number field (1-based).
func Attempt(n int) zap.Field { return zap.Int("attempt", n) }
