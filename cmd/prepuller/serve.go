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

	restConfig, err := loadRESTConfig(opts.kubeconfig)
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

func loadRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

func ptr[T any](v T) *T { return &v }
