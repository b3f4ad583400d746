package main

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"prepuller.dev/prepuller/cmd/prepuller/config"
)

// cacheOptions limits what the manager caches to what prepuller reads.
func cacheOptions(cfg config.Config) cache.Options {
	return cache.Options{}
}

// setupComponents adds prepuller's parts to the manager. This is the one
// place that shows how an image travels: webhook -> learned set -> puller ->
// DaemonSet, with the node inventory feeding the webhook's steering.
func setupComponents(ctx context.Context, mgr manager.Manager, cfg config.Config) error {
	return nil
}
