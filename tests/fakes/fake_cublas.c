/* A fake cuBLAS (libcublas.so.13) so the CUDA detector's "is cuBLAS loadable" check passes next to a fake driver
 * in CLI tests of CUDA builds. Only the version query exists. */
int cublasGetVersion_v2(void* handle, int* version) {
  (void)handle;
  *version = 130000;
  return 0;
}
