/* SIGTERM and SIGHUP while run() waits for the engine.
 *
 * R has no handler of its own for them: either kills R at once, and the run's
 * engine and tasks are left to find out alone. While run() waits, these
 * handlers turn either into an R interrupt, as Ctrl-C is, and keep which signal
 * it was, so that run() stops the engine with that signal, waits until it has
 * recorded the run, and then exits with the conventional status (128 + signal).
 * A handler only sets flags: R acts on the interrupt at its next check.
 */
#include <R.h>
#include <Rinternals.h>
#include <signal.h>
#include <string.h>

#ifndef _WIN32
extern int R_interrupts_pending;

static volatile sig_atomic_t caught = 0;
static struct sigaction previous_term, previous_hup;
static int installed = 0;

static void on_stop_signal(int signum) {
  if (!caught) caught = signum;
  R_interrupts_pending = 1;
}

SEXP metaflow_catch_stop_signals(void) {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (!installed) {
    caught = 0;
    sigaction(SIGTERM, &action, &previous_term);
    sigaction(SIGHUP, &action, &previous_hup);
    installed = 1;
  }
  return R_NilValue;
}

SEXP metaflow_release_stop_signals(void) {
  if (installed) {
    sigaction(SIGTERM, &previous_term, NULL);
    sigaction(SIGHUP, &previous_hup, NULL);
    installed = 0;
  }
  return ScalarInteger((int) caught);
}

SEXP metaflow_caught_signal(void) {
  return ScalarInteger((int) caught);
}
#else
/* Windows has neither signal: R's own handling stays as it is. */
SEXP metaflow_catch_stop_signals(void) { return R_NilValue; }
SEXP metaflow_release_stop_signals(void) { return ScalarInteger(0); }
SEXP metaflow_caught_signal(void) { return ScalarInteger(0); }
#endif
