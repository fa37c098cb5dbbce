// Module entry of the tcpcopy-ts native shim: exports NativeSocket, the
// blocking sleep that spaces tcpcopy's busy turns, WakeTimer (the one timer
// that wakes tcpcopy for its session timers), and one test-only helper.
// Linux only.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "native_socket.h"
#include "wake_timer.h"

namespace {

// fillForTest(buffer, offset, length, byte): memset into an ArrayBuffer.
// Test only: proves that bytes written natively into memory.buffer are what
// the WASM code then reads, with no copy in between.
Napi::Value FillForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsArrayBuffer() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "fillForTest(buffer: ArrayBuffer, offset, length, byte)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  void* data = nullptr;
  size_t size = 0;
  if (napi_get_arraybuffer_info(env, info[0], &data, &size) != napi_ok) {
    Napi::TypeError::New(env, "fillForTest: cannot read the ArrayBuffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double off = info[1].As<Napi::Number>().DoubleValue();
  double len = info[2].As<Napi::Number>().DoubleValue();
  uint32_t byte = info[3].As<Napi::Number>().Uint32Value();
  if (!(off >= 0) || !(len >= 0) || off + len > static_cast<double>(size)) {
    Napi::RangeError::New(env, "fillForTest: range outside the buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (len == 0) return env.Undefined();
  if (data == nullptr) {
    Napi::TypeError::New(env, "fillForTest: the ArrayBuffer is detached").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::memset(static_cast<uint8_t*>(data) + static_cast<size_t>(off), static_cast<int>(byte & 0xff), static_cast<size_t>(len));
  return env.Undefined();
}

// sleepMs(ms): blocks the calling thread for ms milliseconds (0-1000,
// fractions allowed; 0 returns at once) on CLOCK_MONOTONIC; a signal does
// not cut it short. tcpcopy's --wake-interval spacing sleeps hundreds of
// times a second, and a 2 ms sleep through this call costs about 17 us of
// CPU against about 22 us for Atomics.wait (V8's futex emulation adds a
// mutex, a condition variable and its own clock reads around the same
// kernel sleep).
Napi::Value SleepMs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "sleepMs(ms: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double ms = info[0].As<Napi::Number>().DoubleValue();
  if (!(ms >= 0) || ms > 1000) {
    Napi::RangeError::New(env, "sleepMs: ms must be 0-1000").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (ms == 0) return env.Undefined();
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  long long ns = static_cast<long long>(ms * 1e6);
  until.tv_sec += static_cast<time_t>(ns / 1000000000LL);
  until.tv_nsec += static_cast<long>(ns % 1000000000LL);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec += 1;
    until.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSocket", tcpcopy::NativeSocket::Define(env));
  exports.Set("WakeTimer", tcpcopy::WakeTimer::Define(env));
  exports.Set("sleepMs", Napi::Function::New<SleepMs>(env, "sleepMs"));
  exports.Set("fillForTest", Napi::Function::New<FillForTest>(env, "fillForTest"));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(tcpcopy_native, Init)
