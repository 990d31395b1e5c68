# `resume`, checked in R before the engine starts: `run(flow, resume = ...)`
# and `Rscript flow.R resume [step] [--origin-run-id ID]` both come here.
#
# A resumed run clones the successful tasks of the run it resumes (the
# origin) up to the step it resumes from, and runs that step and everything
# after it again, with the origin's parameter values.

# Checks the engine args of a resume: no parameter values (the origin's are
# kept), and a step to resume from that the flow has.
check_resume_args <- function(args, flow, call) {
  parameters <- flow$get_parameters()
  flags <- parameter_names(parameters, flags = TRUE)
  keys <- vapply(args$command_args, `[[`, "", "key")
  given <- keys[keys %in% c(names(parameters), paste0("no-", flags))]
  if (length(given) > 0) {
    options <- paste0("--", given)
    metaflow_abort(c(
      "Parameters can be given only to a new run.",
      x = "The command is {.code resume}, and {.code {options}} {?is a parameter/are parameters}.",
      i = "A resumed run keeps the parameter values of the run it resumes."
    ), "usage", call = call)
  }
  positional <- Filter(function(entry) identical(entry$key, ""), args$command_args)
  if (length(positional) == 0) {
    return(invisible())
  }
  step <- positional[[1]]$tokens[[1]]
  steps <- names(flow$get_steps())
  if (!step %in% steps) {
    metaflow_abort(c(
      "Can't resume flow {flow$get_name()} from step {.val {step}}: the flow has no such step.",
      i = "Its steps are {.val {steps}}."
    ), "usage", call = call)
  }
  invisible()
}
