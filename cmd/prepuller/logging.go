package main

import (
	"os"

	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// newLoggerOptions picks JSON logs in a cluster (for log collectors) and a
// readable console format on a laptop, at the configured level.
func newLoggerOptions(level, format string) crzap.Options {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = zapcore.InfoLevel // validated before; keep a safe fallback
	}
	json := format == "json" || (format == "auto" && os.Getenv("KUBERNETES_SERVICE_HOST") != "")
	opts := crzap.Options{
		Level:       lvl,
		Development: false,
		// zap's production default adds a stack trace to every Error. Errors
		// here are reported where they happen, with context, so a stack adds
		// nothing but volume, and controller-runtime logs some errors once
		// per request (bad admission bodies), which anyone able to reach a
		// port could turn into a flood. Stacks only for DPanic and above,
		// which logr never emits: a real panic prints its own.
		StacktraceLevel: zapcore.DPanicLevel,
	}
	if json {
		opts.Encoder = zapcore.NewJSONEncoder(jsonEncoderConfig())
	} else {
		cfg := jsonEncoderConfig()
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		opts.Encoder = zapcore.NewConsoleEncoder(cfg)
	}
	return opts
}

func jsonEncoderConfig() zapcore.EncoderConfig {
	return zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		NameKey:        "logger",
		MessageKey:     "msg",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.RFC3339TimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
	}
}
