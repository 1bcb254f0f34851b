//go:build tools

// Package helm only records which command of the pinned module is built.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
