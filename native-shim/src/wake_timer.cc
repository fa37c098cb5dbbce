// WakeTimer (see wake_timer.h). new WakeTimer(fn); arm(ms) starts it, or
// starts it again from now; disarm() stops it; close() for good. Armed, it
// keeps the event loop alive as a pending setTimeout does; disarmed or
// closed it keeps nothing alive, itself included (the callback reference is
// weak then: the owner keeps the function).
#include "wake_timer.h"

#include <cmath>

namespace tcpcopy {

Napi::Function WakeTimer::Define(Napi::Env env) {
  return DefineClass(env, "WakeTimer", {
    InstanceMethod<&WakeTimer::Arm>("arm"),
    InstanceMethod<&WakeTimer::Disarm>("disarm"),
    InstanceMethod<&WakeTimer::Close>("close"),
    InstanceAccessor<&WakeTimer::GetArmed>("armed"),
    InstanceAccessor<&WakeTimer::GetClosed>("closed"),
  });
}

WakeTimer::WakeTimer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<WakeTimer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "new WakeTimer(callback: () => void)").ThrowAsJavaScriptException();
    return;
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "napi_get_uv_event_loop failed").ThrowAsJavaScriptException();
    return;
  }
  auto* handle = new uv_timer_t;
  int rc = uv_timer_init(loop, handle);
  if (rc != 0) {
    delete handle;
    Napi::Error::New(env, std::string("uv_timer_init: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
    return;
  }
  handle->data = this;
  timer_ = handle;
  callback_ = Napi::Weak(info[0].As<Napi::Function>());
  async_ = std::make_unique<Napi::AsyncContext>(env, "tcpcopy:WakeTimer");
}

WakeTimer::~WakeTimer() { CloseHandle(); }

void WakeTimer::Hold() {
  if (held_) return;
  held_ = true;
  callback_.Ref();
  Ref();
}

void WakeTimer::Release() {
  if (!held_) return;
  held_ = false;
  callback_.Unref();
  Unref();
}

void WakeTimer::CloseHandle() {
  if (timer_ == nullptr) return;
  uv_timer_stop(timer_);
  timer_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
}

// arm(ms): ms a whole number 0 to 2^31-1; fractions are rounded up, as the
// timer would not run sooner than asked.
Napi::Value WakeTimer::Arm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "WakeTimer.arm(ms: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double ms = info[0].As<Napi::Number>().DoubleValue();
  if (!(ms >= 0) || ms > 2147483647.0) {
    Napi::RangeError::New(env, "WakeTimer.arm: ms must be 0-2147483647").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (timer_ == nullptr) {
    Napi::Error::New(env, "WakeTimer.arm: the timer is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int rc = uv_timer_start(timer_, OnTimer, static_cast<uint64_t>(std::ceil(ms)), 0);
  if (rc != 0) {
    Napi::Error::New(env, std::string("uv_timer_start: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Hold();
  return env.Undefined();
}

Napi::Value WakeTimer::Disarm(const Napi::CallbackInfo& info) {
  if (timer_ != nullptr) uv_timer_stop(timer_);
  Release();
  return info.Env().Undefined();
}

Napi::Value WakeTimer::Close(const Napi::CallbackInfo& info) {
  CloseHandle();
  Release();
  return info.Env().Undefined();
}

Napi::Value WakeTimer::GetArmed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), timer_ != nullptr && uv_is_active(reinterpret_cast<uv_handle_t*>(timer_)) != 0);
}

Napi::Value WakeTimer::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), timer_ == nullptr);
}

void WakeTimer::OnTimer(uv_timer_t* handle) {
  // Raw N-API calls, as in NativeSocket::OnPoll: the wrappers abort when a
  // call fails, and calls fail once the environment cannot run JS any more.
  auto* self = static_cast<WakeTimer*>(handle->data);
  if (self == nullptr || self->callback_.IsEmpty() || !self->async_) return;
  napi_env env = self->Env();
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    self->Release();
    return;
  }
  napi_value fn = nullptr;
  napi_value recv = nullptr;
  napi_value result = nullptr;
  napi_status st = napi_get_reference_value(env, self->callback_, &fn);
  if (st == napi_ok && fn == nullptr) st = napi_generic_failure;
  // The timer has expired: nothing holds the wrapper any more unless the
  // callback arms it again. The local handle keeps fn alive for the call.
  bool held = self->held_;
  self->held_ = false;
  if (st == napi_ok) st = napi_get_global(env, &recv);
  if (st == napi_ok) st = napi_make_callback(env, *self->async_, recv, fn, 0, nullptr, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);  // -> 'uncaughtException'
  }
  // Drop the references the expired arming held (after the call: it may
  // have armed again, which took its own).
  if (held) {
    uint32_t count = 0;
    napi_reference_unref(env, self->callback_, &count);
    napi_reference_unref(env, self->_ref, &count);
  }
  napi_close_handle_scope(env, scope);
}

}  // namespace tcpcopy
