-- request-run: what `shakedown trigger cir NAME` does: a fresh shakedown.dev/run-requested
-- value starts one run (queued behind a run in flight).
local key = "shakedown.dev/run-requested"
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
-- The CLI's timestamp format; os.date has whole seconds, so the microseconds are 0.
local value = os.date("!%Y-%m-%dT%H:%M:%S.000000Z")
if obj.metadata.annotations[key] == value then
  value = value .. "-1"
end
obj.metadata.annotations[key] = value
return obj
