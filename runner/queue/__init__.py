"""Scale-out: fronts queue runs, ``soar worker`` processes execute them (docs/scale-out.md).

    jobs.py      the job queue on procrastinate (the only module importing it): tasks, deferring,
                 working, stalled jobs, procrastinate's schema
    schema.py    ``soar db upgrade``: the store's migrations and the queue's schema in one command
    roles.py     queue or single mode, routes, ``soar approve`` in queue mode, the workers seen
    locks.py     advisory locks: the fronts' shared serve lock and leader lock, the run leases
    dispatch.py  the front's dispatcher: jobs instead of runs; what was left without a job
    front.py     ``soar serve --role front``: the lock, leadership (schedules, polls)
    worker.py    ``soar worker``: executing the jobs, stopping, health and metrics
    status.py    ``soar queue status``
"""
