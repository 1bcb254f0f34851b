// Module pause is the pod sandbox's placeholder process, built here so the
// cluster needs no image from a public registry.
module shakedown.dev/hack/images/pause

go 1.24.0
