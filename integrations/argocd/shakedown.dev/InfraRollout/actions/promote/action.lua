-- promote: what `shakedown promote iro NAME` does: a fresh shakedown.dev/promote value.
-- The operator acts on every new value, so a click in the same second as the last
-- one still differs from it.
local key = "shakedown.dev/promote"
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
