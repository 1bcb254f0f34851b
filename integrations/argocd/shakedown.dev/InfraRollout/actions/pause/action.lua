-- pause: what `shakedown pause iro NAME` does: shakedown.dev/paused=true holds the shift.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["shakedown.dev/paused"] = "true"
return obj
