-- Argo CD resource health check for gpuvm.io GpuVm and EdgeDevice (one script for both kinds).
-- Follows kstatus: a status the controller wrote for an older generation says nothing about the current
-- spec (Progressing); Stalled=True means only a spec change can help (Degraded); Ready=True is Healthy.
-- spec.suspend (or Suspended=True: its EdgeDevice is suspended) is "Suspended", as Argo CD reports suspended Flux objects.
-- Written for Lua 5.1 (Argo CD's gopher-lua); `obj` is the live object.
local hs = { status = "Progressing", message = "Waiting for the controller to report status" }

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true"
end

local status = obj.status
if status == nil or status.conditions == nil then
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

local ready = nil
local stalled = nil
local suspended = nil
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  elseif condition.type == "Stalled" then
    stalled = condition
  elseif condition.type == "Suspended" then
    suspended = condition
  end
end

local function current(observed)
  return generation == nil or (observed ~= nil and observed >= generation)
end

-- A Suspended condition written for an older generation may predate spec.suspend: false.
if suspended ~= nil and suspended.status == "True" and (hs.status == "Suspended" or current(suspended.observedGeneration)) then
  hs.status = "Suspended"
  hs.message = suspended.message or suspended.reason or "Suspended"
  return hs
end
if hs.status == "Suspended" then
  return hs
end

if not current(status.observedGeneration) or (ready ~= nil and ready.observedGeneration ~= nil and not current(ready.observedGeneration)) then
  hs.message = "Waiting for the controller to observe generation " .. tostring(generation)
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or stalled.reason or "Stalled"
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" and ready.message ~= hs.message then
    hs.message = hs.message .. " (" .. ready.message .. ")"
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end

if ready ~= nil then
  if ready.message ~= nil and ready.message ~= "" then
    hs.message = ready.message
  elseif ready.reason ~= nil then
    hs.message = ready.reason
  end
end
return hs
