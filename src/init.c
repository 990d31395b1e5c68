#include <R.h>
#include <Rinternals.h>
#include <R_ext/Rdynload.h>

SEXP metaflow_catch_stop_signals(void);
SEXP metaflow_release_stop_signals(void);
SEXP metaflow_caught_signal(void);

static const R_CallMethodDef call_methods[] = {
  {"metaflow_catch_stop_signals", (DL_FUNC) &metaflow_catch_stop_signals, 0},
  {"metaflow_release_stop_signals", (DL_FUNC) &metaflow_release_stop_signals, 0},
  {"metaflow_caught_signal", (DL_FUNC) &metaflow_caught_signal, 0},
  {NULL, NULL, 0}
};

void R_init_metaflow(DllInfo *dll) {
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
}
