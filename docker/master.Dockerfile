FROM mesos-rs-base
COPY mesos-master /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/mesos-master"]
