-- Argo CD actions of a shakedown ContainerImageRefresh; each writes what its
-- `shakedown` command writes, and is enabled only where the operator would act on it.
local actions = {}
local status = obj.status or {}
local suspended = obj.spec.suspend == true

local earlier = false
for _, entry in ipairs(status.history or {}) do
  if entry.digest ~= nil and entry.digest ~= status.promotedDigest then
    earlier = true
  end
end

-- request-run (`shakedown trigger cir`): a suspended refresh drops run requests.
actions["request-run"] = {["disabled"] = suspended, ["iconClass"] = "fa fa-fw fa-play"}
-- rollback (`shakedown rollback cir`): needs an earlier promoted digest.
actions["rollback"] = {["disabled"] = not earlier, ["iconClass"] = "fa fa-fw fa-undo"}
actions["suspend"] = {["disabled"] = suspended, ["iconClass"] = "fa fa-fw fa-pause-circle"}
actions["resume"] = {["disabled"] = not suspended, ["iconClass"] = "fa fa-fw fa-play-circle"}
return actions
