-- Argo CD health of a shakedown ContainerImageRefresh (shakedown.dev/v1alpha1).
-- Runs in Argo CD's Lua sandbox: no string library, so only `..` and `==` on strings.
--   a run in flight (Pending, Building, Testing, Promoting) -> Progressing
--   spec.suspend with no run in flight                      -> Suspended
--   last run Succeeded (tag moved) or Validated             -> Healthy
--   last run Failed or Cancelled, or a Stalled spec         -> Degraded (the tag stays on the
--                                                              last good digest)
local hs = {}

local function condition(status, type)
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

local function run_line(run)
  local line = "Run " .. (run.id or "?") .. " " .. (run.phase or "Pending")
  if run.message ~= nil and run.message ~= "" then
    line = line .. ": " .. run.message
  end
  return line
end

local status = obj.status
if status == nil or (status.conditions == nil and status.lastRun == nil and status.currentRun == nil) then
  hs.status = "Progressing"
  hs.message = "Waiting for the shakedown operator to pick the refresh up"
  return hs
end

-- Status written for an older spec says nothing about this one (kstatus reads it so too).
local generation = obj.metadata.generation
local observed = status.observedGeneration
if observed == nil then
  local ready = condition(status, "Ready")
  if ready ~= nil then
    observed = ready.observedGeneration
  end
end
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end

if status.currentRun ~= nil then
  hs.status = "Progressing"
  hs.message = run_line(status.currentRun)
  return hs
end

local last = status.lastRun
if last == nil and status.recentRuns ~= nil then
  last = status.recentRuns[1]
end

if obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: no new runs start"
  if last ~= nil then
    hs.message = hs.message .. " (last: " .. run_line(last) .. ")"
  end
  return hs
end

if status.pendingTriggers ~= nil and status.pendingTriggers[1] ~= nil then
  hs.status = "Progressing"
  hs.message = "Run requested (" .. (status.pendingTriggers[1].trigger or "Manual") .. ")"
  return hs
end

if last == nil then
  hs.status = "Progressing"
  hs.message = "No run has finished yet"
  return hs
end

if last.phase == "Succeeded" or last.phase == "Validated" then
  hs.status = "Healthy"
else
  hs.status = "Degraded"
end
hs.message = run_line(last)
return hs
