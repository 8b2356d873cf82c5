/* SPDX-License-Identifier: MIT */
/* demo.h - `ringsided --demo`, the lecture's pipeline on simulated feeds. */
#ifndef ENGINE_DEMO_H
#define ENGINE_DEMO_H

/* Run the demo for @duration seconds (<= 0: 15); returns the exit code. */
int engine_demo(double duration);

#endif
