-- undo: what `shakedown undo iro NAME` does without --to-revision: shakedown.dev/undo
-- names the last revision, whose snapshot (production before it) is restored.
local key = "shakedown.dev/undo"
local revision = (obj.status or {}).revision or 0
if revision < 1 then
  error("nothing to undo: the rollout has no revision yet")
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations[key] = tostring(revision) .. " requested-at=" .. os.date("!%Y-%m-%dT%H:%M:%S.000000Z")
return obj
