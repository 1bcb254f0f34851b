-- rollback: what `shakedown rollback cir NAME` does: shakedown.dev/rollback-to names the
-- newest digest in status.history other than the promoted one. Asking again for a digest
-- already asked for adds " requested-at=<time>", so the operator sees a new request.
local status = obj.status or {}
local promoted = status.promotedDigest
local target = nil
for _, entry in ipairs(status.history or {}) do
  if entry.digest ~= nil and entry.digest ~= promoted then
    target = entry.digest
    break
  end
end
if target == nil then
  error("no earlier promoted digest in status.history to roll back to")
end

-- No string library in Argo CD's sandbox: s starts with p exactly when p <= s < p.."\255".
local function starts_with(s, p)
  return s >= p and s < p .. "\255"
end

if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
local key = "shakedown.dev/rollback-to"
local old = obj.metadata.annotations[key]
local value = target
if old ~= nil and (old == target or starts_with(old, target .. " ")) then
  value = target .. " requested-at=" .. os.date("!%Y-%m-%dT%H:%M:%S.000000Z")
end
obj.metadata.annotations[key] = value
return obj
