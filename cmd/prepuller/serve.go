package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"prepuller.dev/prepuller/cmd/prepuller/app"
)

func serve(args []string) int {
	opts, err := parseServeFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "prepuller serve: %v\n", err)
		return 2
	}
	ctrl.SetLogger(crzap.New(crzap.UseFlagOptions(ptr(newLoggerOptions(opts.cfg.LogLevel, opts.cfg.LogFormat)))))
	log := ctrl.Log.WithName("serve")
	redirectStdLog()

	restConfig, err := restConfig(opts)
	if err != nil {
		log.Error(err, "loading kubeconfig")
		return 1
	}
	ctx := ctrl.SetupSignalHandler()
	if err := app.Run(ctx, restConfig, opts.cfg); err != nil {
		log.Error(err, "prepuller stopped with an error")
		return 1
	}
	log.Info("prepuller stopped")
	return 0
}

// restConfig finds the API server's address and credentials and sets the
// client rate limits. The limits are set here, after loading, because the
// loaders disagree: clientcmd leaves QPS 0 (client-go then allows 5 per
// second, too few for one Event per learned image), controller-runtime's
// loader (in-cluster, $KUBECONFIG) sets -1 (no client limit at all).
func restConfig(o serveOptions) (*rest.Config, error) {
	cfg, err := loadRESTConfig(o.kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS = float32(o.kubeAPIQPS)
	cfg.Burst = o.kubeAPIBurst
	return cfg, nil
}

func loadRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

func ptr[T any](v T) *T { return &v }
