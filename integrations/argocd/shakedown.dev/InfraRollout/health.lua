-- Argo CD health of a shakedown InfraRollout (shakedown.dev/v1alpha1).
-- Runs in Argo CD's Lua sandbox: no string library, so only `..` and `==` on strings.
-- Maps the rollout's phase the way `shakedown get iro` reads it:
--   in flight (Pending .. Baking, RollingBack)         -> Progressing
--   Shifting held by a canary pause or shakedown.dev/paused -> Suspended
--   Succeeded, Validated (prove-only)                  -> Healthy
--   Failed, RolledBack, Aborted, or a Stalled spec     -> Degraded (Git is ahead of production
--                                                         until the change is fixed or retried)
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

local function detail(status)
  if status.waitingFor ~= nil and status.waitingFor ~= "" then
    return status.waitingFor
  end
  if status.message ~= nil and status.message ~= "" then
    return status.message
  end
  return nil
end

local function say(status, text)
  local revision = status.revision or 0
  local head = (status.phase or "Pending") .. " (revision " .. tostring(revision) .. ")"
  if text == nil then
    return head
  end
  return head .. ": " .. text
end

local status = obj.status
if status == nil or (status.phase == nil and status.conditions == nil) then
  hs.status = "Progressing"
  hs.message = "Waiting for the shakedown operator to pick the rollout up"
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
local phase = status.phase or "Pending"
local ended = phase == "Succeeded" or phase == "Validated" or phase == "Failed"
  or phase == "RolledBack" or phase == "Aborted"
if stalled ~= nil and stalled.status == "True" and not ended then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end

if (status.revision or 0) == 0 then
  hs.status = "Progressing"
  hs.message = "No revision yet: " .. (detail(status) or "waiting for a change to roll out")
  return hs
end

if phase == "Succeeded" or phase == "Validated" then
  hs.status = "Healthy"
  hs.message = say(status, status.message)
  return hs
end

if phase == "Failed" or phase == "RolledBack" or phase == "Aborted" then
  hs.status = "Degraded"
  local why = status.message
  if (why == nil or why == "") and status.rollbackReason ~= nil then
    why = status.rollbackReason
  end
  hs.message = say(status, why)
  return hs
end

if phase == "Shifting" then
  local annotations = obj.metadata.annotations
  if annotations ~= nil and (annotations["shakedown.dev/paused"] == "true"
      or annotations["shakedown.dev/paused"] == "True") then
    hs.status = "Suspended"
    hs.message = say(status, "paused by shakedown.dev/paused (action resume continues)")
    return hs
  end
  local ready = condition(status, "Ready")
  if ready ~= nil and ready.reason == "Paused" then
    hs.status = "Suspended"
    hs.message = say(status, ready.message)
    return hs
  end
end

hs.status = "Progressing"
hs.message = say(status, detail(status))
return hs
