// Module luacheck runs the Argo CD Lua scripts under integrations/argocd with
// gopher-lua, the interpreter Argo CD embeds; its version is pinned here only.
module shakedown.dev/hack/luacheck

go 1.24.0

require github.com/yuin/gopher-lua v1.1.1
