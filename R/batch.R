#' Run a step on AWS Batch
#'
#' A step with `batch()` runs each of its tasks as an AWS Batch job instead of
#' a local process: `step(flow, batch(memory = 16000), step = "train", ...)`.
#' `run(flow, batch = TRUE)` (or `Rscript flow.R run --with batch`) sends
#' every step to Batch. The rest of the run stays on your machine: the engine
#' submits each task's job, prints its output (from CloudWatch Logs) as it
#' prints a local task's, and goes on when the job is done.
#'
#' A Batch step needs the S3 datastore (`run(flow, datastore = "s3")`, with
#' `METAFLOW_DATASTORE_SYSROOT_S3` naming a bucket and prefix); without it the
#' run stops before it starts, with an error naming the step. The job runs the
#' same task a local run would, from the run's code package: the flow's spec
#' and step functions, and the files of the directory the flow runs from whose
#' names end in one of `package_suffixes` (by default `.py`, `.R` and `.RDS`),
#' packed once per run and stored in the datastore. It needs nothing of your
#' machine, but its container image must hold R, Python and this package:
#' `docker/Dockerfile` in the package's sources builds one.
#'
#' [retry()], [timeout()] and interrupting the run work as for local steps:
#' a retry is a new job, a timeout or Ctrl-C terminates the job. What the job
#' asks for is the larger of `batch()`'s and [resources()]' `cpu`, `gpu` and
#' `memory`.
#'
#' Attributes left `NULL` take the engine's configured values when the run
#' starts (not when the flow is written, as the original R package did):
#' `queue` from `METAFLOW_BATCH_JOB_QUEUE`, `image` from
#' `METAFLOW_BATCH_CONTAINER_IMAGE`, `iam_role` from
#' `METAFLOW_ECS_S3_ACCESS_IAM_ROLE` and `execution_role` from
#' `METAFLOW_ECS_FARGATE_EXECUTION_ROLE`. A step with no queue or no image is an
#' error when the run starts.
#'
#' @inheritParams resources
#' @param image `NULL`, or the Docker image to run the step in.
#' @param queue `NULL`, or the AWS Batch job queue.
#' @param iam_role `NULL`, or the IAM role the step's container runs as: it
#'   needs read and write access to the S3 datastore.
#' @param execution_role `NULL`, or the AWS Fargate execution role.
#' @param max_swap `NULL`, or the swap space in megabytes.
#' @param swappiness `NULL`, or the container's swappiness, 0 to 100.
#' @return A [decorator()].
#' @family decorators
#' @export
#' @examples
#' batch(cpu = 4, memory = 16000, queue = "my-queue")
#'
#' # A flow whose training step runs on AWS Batch; run it with
#' # run(flow, datastore = "s3") where a bucket and a job queue are set up.
#' flow <- metaflow("TrainFlow") %>%
#'   step(step = "start", r_function = function(self) self$n <- 1e6, next_step = "train") %>%
#'   step(
#'     step = "train", batch(cpu = 2, memory = 8000), retry(times = 1),
#'     r_function = function(self) self$mean <- mean(stats::rnorm(self$n)),
#'     next_step = "end"
#'   ) %>%
#'   step(step = "end")
batch <- function(cpu = 1L, gpu = 0L, memory = 4096L, image = NULL, queue = NULL,
                  iam_role = NULL, execution_role = NULL, shared_memory = NULL,
                  max_swap = NULL, swappiness = NULL) {
  check_positive_number(cpu, "cpu", "batch")
  check_whole_number(gpu, "gpu", "batch")
  check_whole_number(memory, "memory", "batch", min = 1)
  check_whole_number(shared_memory, "shared_memory", "batch", min = 1, null_ok = TRUE)
  check_whole_number(max_swap, "max_swap", "batch", null_ok = TRUE)
  check_whole_number(swappiness, "swappiness", "batch", max = 100, null_ok = TRUE)
  for (arg in c("image", "queue", "iam_role", "execution_role")) {
    value <- get(arg)
    if (!is.null(value) && !is_string(value)) {
      metaflow_abort(c(
        "{.arg {arg}} must be {.code NULL} or a string.",
        x = "Got {show_value(value)}."
      ), "decorator")
    }
  }
  decorator(
    "batch",
    cpu = cpu, gpu = gpu, memory = memory, image = image, queue = queue,
    iam_role = iam_role, execution_role = execution_role, shared_memory = shared_memory,
    max_swap = max_swap, swappiness = swappiness
  )
}
