//go:build tools

// Package kuberouter only records which command of the pinned module is built.
package kuberouter

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
