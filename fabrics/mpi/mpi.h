/* The MPI bootstrap's communicator, for the MPI fabric and for tests.
 *
 * This header deliberately does not include <mpi.h> (and shares its file
 * name only by directory convention): include it as "mpi/mpi.h".  The
 * communicator is handed out through a void pointer so that code built
 * without MPI can still see the declaration.
 */
#ifndef FSC_FABRIC_MPI_H
#define FSC_FABRIC_MPI_H

struct fsc_boot;

/* Write the MPI bootstrap's control communicator (an MPI_Comm, a duplicate
 * of MPI_COMM_WORLD owned by the bootstrap) to *(MPI_Comm *)comm_out.
 * Callers must not free it; duplicate it to carry their own traffic.
 * Returns 0, or -ENOTSUP (not logged) when b is not the MPI bootstrap. */
int fsc_boot_mpi_comm(struct fsc_boot *b, void *comm_out);

#endif
