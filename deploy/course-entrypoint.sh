#!/bin/sh
# The course image's entrypoint: give the learner a copy of the notebooks and exercises of
# their own on first start, then run the command (JupyterLab, jupyterhub-singleuser, ...).
#
# Zero to JupyterHub mounts each learner's volume on /home/jovyan, hiding whatever the
# image had there; so the course waits in /opt/course and is copied in here.  A copy that
# exists is never overwritten: a learner's answers survive a new image.
for part in notebooks exercises; do
    if [ ! -e "$HOME/$part" ]; then
        cp -r "/opt/course/$part" "$HOME/$part" ||
            echo "course-entrypoint: could not copy the $part into $HOME" >&2
    fi
done
exec "$@"
