# The image Docker tasks run in the tests: the base with a tiny HTTP server.
FROM mesos-rs-base
LABEL org.mesos-rs.role=task
CMD ["/bin/sh", "-c", "echo hello from mesos-rs-task"]
