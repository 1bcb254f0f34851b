-- suspend: what `shakedown suspend cir NAME` does: spec.suspend=true (no new runs start).
-- A spec write: with automated sync and self-heal Argo CD reverts it unless Git agrees.
obj.spec.suspend = true
return obj
