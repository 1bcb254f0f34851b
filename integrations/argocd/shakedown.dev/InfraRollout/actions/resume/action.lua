-- resume: what `shakedown resume iro NAME` does: remove shakedown.dev/paused.
-- Argo CD cannot tell an emptied table from an empty list and would put the
-- annotations back, so when paused is the only annotation it is set to "false"
-- instead (the operator holds only on "true").
local annotations = obj.metadata.annotations
if annotations == nil then
  return obj
end
annotations["shakedown.dev/paused"] = nil
if next(annotations) == nil then
  annotations["shakedown.dev/paused"] = "false"
end
return obj
