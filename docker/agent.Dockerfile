FROM mesos-rs-base
COPY mesos-agent mesos-executor mesos-default-executor mesos-docker-executor docker /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/mesos-agent", "--launcher_dir=/usr/local/bin"]
