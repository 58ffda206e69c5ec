// Package logging builds the process's zap logger and adapts it to the
// Temporal SDK, so SDK, worker and workflow logs (workflow.GetLogger) all go
// through the same zap core with the keys the caller chose.
package logging

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/clusterhealth/healthd/internal/config"
)

// Log formats accepted by New.
const (
	// FormatJSON is the production format: one JSON object a line on stderr.
	FormatJSON = "json"
	// FormatConsole is the human-readable development format.
	FormatConsole = "console"
)

// levels are the names of the levels New accepts, from debug to error, as
// zapcore spells them.
var levels = func() []string {
	var names []string
	for l := zapcore.DebugLevel; l <= zapcore.ErrorLevel; l++ {
		names = append(names, l.String())
	}
	return names
}()

// Config is the logging section of every process's settings.
type Config struct {
	// Format is FormatJSON or FormatConsole (LOG_FORMAT).
	Format string
	// Level is debug, info, warn or error (LOG_LEVEL).
	Level string
}

// DefaultConfig returns the production logging settings: JSON at info.
func DefaultConfig() Config {
	return Config{Format: FormatJSON, Level: zapcore.InfoLevel.String()}
}

// Settings binds LOG_FORMAT and LOG_LEVEL to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.String("LOG_FORMAT", "log format: "+FormatJSON+" or "+FormatConsole, &c.Format, config.OneOf(FormatJSON, FormatConsole)),
		config.String("LOG_LEVEL", "log level: "+strings.Join(levels[:len(levels)-1], ", ")+" or "+levels[len(levels)-1], &c.Level, config.OneOf(levels...)),
	}
}

// New builds a logger writing to stderr in the given format (FormatJSON or
// FormatConsole) at the given level (debug, info, warn or error). Build it once
// in main and pass it down.
func New(format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	// ParseLevel also reads upper case and the levels above error, which
	// LOG_LEVEL does not accept.
	if err != nil || lvl.String() != level || lvl > zapcore.ErrorLevel {
		return nil, fmt.Errorf("logging: level %q is not one of %s", level, strings.Join(levels, ", "))
	}

	var cfg zap.Config
	switch format {
	case FormatJSON:
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		cfg.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	case FormatConsole:
		cfg = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("logging: format %q is not one of %s, %s", format, FormatJSON, FormatConsole)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)

	l, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("logging: build %s logger: %w", format, err)
	}
	return l, nil
}

// badKey is the key given to a trailing value without a key, as log/slog does.
const badKey = "!BADKEY"

// Temporal adapts l to the Temporal SDK's logger interface (client and worker
// options, and through them workflow.GetLogger and activity.GetLogger).
// Key-value pairs become zap fields with their keys unchanged; a zap.Field may
// also be passed in place of a pair.
func Temporal(l *zap.Logger) log.Logger {
	// One frame for the adapter method itself, so callers are reported.
	return &temporalLogger{zl: l.WithOptions(zap.AddCallerSkip(1))}
}

// temporalLogger implements log.Logger, log.WithLogger and log.WithSkipCallers.
type temporalLogger struct {
	zl *zap.Logger
}

var (
	_ log.Logger          = (*temporalLogger)(nil)
	_ log.WithLogger      = (*temporalLogger)(nil)
	_ log.WithSkipCallers = (*temporalLogger)(nil)
)

// Debug logs at debug level.
func (t *temporalLogger) Debug(msg string, keyvals ...any) { t.zl.Debug(msg, fields(keyvals)...) }

// Info logs at info level.
func (t *temporalLogger) Info(msg string, keyvals ...any) { t.zl.Info(msg, fields(keyvals)...) }

// Warn logs at warn level.
func (t *temporalLogger) Warn(msg string, keyvals ...any) { t.zl.Warn(msg, fields(keyvals)...) }

// Error logs at error level.
func (t *temporalLogger) Error(msg string, keyvals ...any) { t.zl.Error(msg, fields(keyvals)...) }

// With returns a child logger that adds keyvals to every entry.
func (t *temporalLogger) With(keyvals ...any) log.Logger {
	return &temporalLogger{zl: t.zl.With(fields(keyvals)...)}
}

// WithCallerSkip returns a child logger that skips n more stack frames when
// reporting the caller; the SDK's wrappers (replay-aware workflow logger) use it.
func (t *temporalLogger) WithCallerSkip(n int) log.Logger {
	return &temporalLogger{zl: t.zl.WithOptions(zap.AddCallerSkip(n))}
}

// fields converts alternating keys and values into zap fields. Non-string keys
// are formatted with %v; a trailing value without a key is kept under !BADKEY.
func fields(keyvals []any) []zap.Field {
	if len(keyvals) == 0 {
		return nil
	}
	fs := make([]zap.Field, 0, (len(keyvals)+1)/2)
	for i := 0; i < len(keyvals); {
		if f, ok := keyvals[i].(zap.Field); ok {
			fs = append(fs, f)
			i++
			continue
		}
		if i == len(keyvals)-1 {
			fs = append(fs, zap.Any(badKey, keyvals[i]))
			break
		}
		key, ok := keyvals[i].(string)
		if !ok {
			key = fmt.Sprint(keyvals[i])
		}
		fs = append(fs, zap.Any(key, keyvals[i+1]))
		i += 2
	}
	return fs
}
