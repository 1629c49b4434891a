/* mpienv.h - whether mpirun or srun started this process
 *
 * nh-clean and nh-train start MPI only when a launcher started them, so
 * that a plain run never touches MPI (Open MPI's singleton start forks a
 * daemon). Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx launchers
 * (srun --mpi=pmix) set PMIX_RANK; PMI-1/2 ones set PMI_SIZE.
 */
#ifndef NH_MPIENV_H
#define NH_MPIENV_H

#include <stdbool.h>
#include <stdlib.h>

static inline bool
nh_launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") ||
           getenv("PMI_SIZE");
}

#endif
