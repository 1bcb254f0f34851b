-- Argo CD actions of a shakedown InfraRollout; each sets the annotation its
-- `shakedown` command sets, and is enabled only where that command (and the
-- operator) would act on it.
local actions = {}
local status = obj.status or {}
local annotations = obj.metadata.annotations or {}
local phase = status.phase or "Pending"
local revision = status.revision or 0

local function condition(type)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local in_flight = revision > 0 and (phase == "Pending" or phase == "Snapshotting"
  or phase == "Shadowing" or phase == "SmokeTesting" or phase == "Shifting" or phase == "Baking")
local ready = condition("Ready")
local at_pause = phase == "Shifting" and ready ~= nil and ready.reason == "Paused"
local held = annotations["shakedown.dev/paused"] == "true" or annotations["shakedown.dev/paused"] == "True"
local production_on_change = phase == "Succeeded" or (phase == "Failed" and status.shiftStarted == true)

-- promote: skip the current canary pause (`shakedown promote iro`).
actions["promote"] = {["disabled"] = not at_pause, ["iconClass"] = "fa fa-fw fa-forward"}
-- abort: roll production back now (`shakedown abort iro`); also after a failure that
-- left production shifted because rollback.automatic is off.
actions["abort"] = {
  ["disabled"] = not (in_flight or (phase == "Failed" and status.shiftStarted == true)),
  ["iconClass"] = "fa fa-fw fa-circle-stop",
}
-- retry: run a Failed, RolledBack or Aborted change again (`shakedown retry iro`).
actions["retry"] = {
  ["disabled"] = not (revision > 0 and (phase == "Failed" or phase == "RolledBack" or phase == "Aborted")),
  ["iconClass"] = "fa fa-fw fa-redo",
}
-- undo: restore production from the last revision's snapshot (`shakedown undo iro`).
actions["undo"] = {["disabled"] = not (revision > 0 and production_on_change), ["iconClass"] = "fa fa-fw fa-undo"}
-- pause / resume: hold the shift at its step (`shakedown pause|resume iro`).
actions["pause"] = {["disabled"] = held, ["iconClass"] = "fa fa-fw fa-pause-circle"}
actions["resume"] = {["disabled"] = not held, ["iconClass"] = "fa fa-fw fa-play-circle"}
return actions
