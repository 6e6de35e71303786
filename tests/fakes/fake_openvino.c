/* A fake OpenVINO C API (libopenvino_c.so) for the OpenVINO detector tests: version 2025.0.0-fake and devices
 * CPU and GPU.0, or none (FAKE_NO_DEVICES), or a library without ov_core_create (FAKE_OMIT_CORE). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char* buildNumber;
  const char* description;
} ov_version_t;
typedef struct {
  char** devices;
  size_t size;
} ov_available_devices_t;

int ov_get_openvino_version(ov_version_t* v) {
  v->buildNumber = "2025.0.0-fake";
  v->description = "fake OpenVINO Runtime";
  return 0;
}
void ov_version_free(ov_version_t* v) { (void)v; }

#ifndef FAKE_OMIT_CORE
static int g_core;
int ov_core_create(void** core) {
  *core = &g_core;
  return 0;
}
#endif
void ov_core_free(void* core) { (void)core; }

int ov_core_get_available_devices(const void* core, ov_available_devices_t* d) {
  (void)core;
#ifdef FAKE_NO_DEVICES
  d->devices = NULL;
  d->size = 0;
#else
  d->devices = (char**)malloc(2 * sizeof(char*));
  d->devices[0] = strdup("CPU");
  d->devices[1] = strdup("GPU.0");
  d->size = 2;
#endif
  return 0;
}
void ov_available_devices_free(ov_available_devices_t* d) {
  for (size_t i = 0; i < d->size; ++i) free(d->devices[i]);
  free(d->devices);
  d->devices = NULL;
  d->size = 0;
}
int ov_core_get_property(const void* core, const char* device, const char* key, char** value) {
  (void)core;
  if (strcmp(key, "FULL_DEVICE_NAME") != 0) return -1;
  *value = strdup(strcmp(device, "CPU") == 0 ? "Fake Xeon CPU" : "Fake Arc GPU (iGPU)");
  return 0;
}
void ov_free(const char* s) { free((void*)s); }
