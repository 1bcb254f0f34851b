-- resume: what `shakedown resume cir NAME` does: spec.suspend=false.
obj.spec.suspend = false
return obj
