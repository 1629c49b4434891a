/* nhmpi.h - starting and stopping MPI in nh-clean (pipeline/mpi.c) */
#ifndef NH_NHMPI_H
#define NH_NHMPI_H

#include <stdbool.h>

#include "dist.h"
#include "err.h"

/* Fill d: rank 0 of 1 when not launched by mpirun/srun (returns 0), else
 * MPI_Init and the collectives (returns 1); NH_EIO when MPI fails. */
int nh_mpi_init(struct dist *d, int *argc, char ***argv);
/* MPI_Finalize, when MPI was started. */
void nh_mpi_finalize(void);

#endif
