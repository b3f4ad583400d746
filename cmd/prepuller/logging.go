package main

import (
	"log"
	"os"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"prepuller.dev/prepuller/pkg/logutil"
)

// stdLogEvery is how often a line of the standard library's logger may be
// written.
const stdLogEvery = 10 * time.Second

// redirectStdLog sends the standard library's logger to prepuller's log,
// one line per stdLogEvery at most. net/http writes there what it cannot
// hand to a handler, one line per failed TLS handshake, which anyone who
// reaches the webhook port can cause (and, with webhook.clientCAFile set,
// every client without a certificate does).
func redirectStdLog() {
	log.SetFlags(0)
	log.SetOutput(&logutil.Sampled{Log: ctrl.Log.WithName("stdlib"), Every: stdLogEvery})
}

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
