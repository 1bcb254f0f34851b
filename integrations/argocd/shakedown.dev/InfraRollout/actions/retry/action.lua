-- retry: what `shakedown retry iro NAME` does: a fresh shakedown.dev/retry value.
local key = "shakedown.dev/retry"
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
