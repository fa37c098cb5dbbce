// WakeTimer: one libuv timer on the loop thread that calls one JS function
// when it expires. The loop's clock and whole milliseconds, as Node's
// setTimeout, without Node's timer lists and a Timeout object per arming.
// Readiness only: it decides nothing (see native-shim/README.md).
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

namespace tcpcopy {

class WakeTimer : public Napi::ObjectWrap<WakeTimer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit WakeTimer(const Napi::CallbackInfo& info);
  ~WakeTimer() override;

 private:
  static void OnTimer(uv_timer_t* handle);
  void Hold();     // armed: the wrapper and the callback stay alive, the loop too
  void Release();  // not armed: both references weak again
  void CloseHandle();

  Napi::Value Arm(const Napi::CallbackInfo& info);
  Napi::Value Disarm(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetArmed(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  uv_timer_t* timer_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_;
  bool held_ = false;
};

}  // namespace tcpcopy
