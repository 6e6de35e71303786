/* A fake QNN backend library (libQnnCpu.so / libQnnHtp.so) for the QNN detector tests: QnnInterface_getProviders
 * returns one provider whose id and name come from FAKE_BACKEND_ID / FAKE_PROVIDER_NAME. Only the stable prefix of
 * QnnInterface_t is filled; the detector never reads the function table. */
#include <stdint.h>
#include <stddef.h>

#ifndef FAKE_BACKEND_ID
#define FAKE_BACKEND_ID 3
#endif
#ifndef FAKE_PROVIDER_NAME
#define FAKE_PROVIDER_NAME "FAKE_QNN_CPU"
#endif

typedef struct {
  uint32_t major, minor, patch;
} Version;
typedef struct {
  uint32_t backend_id;
  const char* provider_name;
  Version core_api;
  Version backend_api;
  void* table[64];
} Interface;

static const Interface kInterface = {FAKE_BACKEND_ID, FAKE_PROVIDER_NAME, {2, 22, 0}, {5, 31, 1}, {0}};
static const Interface* kList[1] = {&kInterface};

uint64_t QnnInterface_getProviders(const Interface*** list, uint32_t* n) {
  *list = kList;
  *n = 1;
  return 0;
}
