# The base image of chapter 10: a busybox system with a tools folder.
# Built with the seed's second command:
#   sandbox build --force-rm=true -t vf_base -f base.dockerfile .
FROM busybox
LABEL org.opencontainers.image.title="vf_base"
ENV LANG=C.UTF-8 TOOLS=/opt/tools
RUN mkdir -p $TOOLS \
 && printf '#!/bin/sh\necho "vf tools 1.0"\n' > $TOOLS/version \
 && chmod +x $TOOLS/version
ENV PATH=$TOOLS:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /srv
