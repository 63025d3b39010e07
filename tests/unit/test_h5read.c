/* test_h5read.c: the HDF5 reader (src/import/keras/h5read.c) on real files and hostile ones.
 * - Every dataset of the shared Keras models (../shared/models/<name>/model.h5) and of the
 *   fuzz_keras seeds (.h5 files and the model.weights.h5 inside .keras zips) read as float32 and
 *   hashed (FNV-1a over the sorted paths, shapes and float bits), with the model_config and
 *   layer_names strings, against values h5py 3.14 gave (the generator is in the comment above
 *   g_files).
 * - Two files h5py wrote for this test (libver "earliest": superblock 0, symbol tables, chunked
 *   data with deflate/shuffle/fletcher32; libver "latest": superblock 3, "OHDR" headers, compact
 *   links), embedded zlib-compressed: every datatype (f16/f32/f64/ints, both byte orders),
 *   compact/contiguous/unwritten/empty/scalar datasets, fixed and variable-length strings,
 *   checked against the values the generator wrote (computed here), and the refusals (LZF
 *   filter, version 4 chunk index, soft link, dense links and attributes).
 * - Hostile input: every truncation of a seed and of the "latest" file, and a bit flip of every
 *   bit of their first 4 KiB, must fail cleanly (a status and a message) or read the same. */
#include <zip.h>
#include <zlib.h>

#include "harness.h"
#include "import/keras/h5read.h"

/* The embedded files, made by (h5py 3.14, .venv-tf):
 * import h5py, numpy as np
 * def fill(f, chunked):
 *     g = f.create_group("g")  # at most 8 links a group: "latest" stores more densely
 *     x = g.create_group("x")
 *     g.attrs["fixed"] = np.array([b"alpha", b"be", b"gamma_long"], dtype="S10")
 *     g.attrs.create("vl", ["x", "yy", "", "zzz"], dtype=h5py.string_dtype())
 *     g.attrs["scalar_vl"] = "hello"
 *     g.attrs["num"] = np.float32(1.5)
 *     rng = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7 - 1
 *     g.create_dataset("f64le", data=rng.astype("<f8"))
 *     g.create_dataset("f64be", data=rng.astype(">f8"))
 *     g.create_dataset("f32be", data=rng.astype(">f4"))
 *     g.create_dataset("f16", data=rng.astype("<f2"))
 *     g.create_dataset("f16be", data=rng.astype(">f2"))
 *     g.create_dataset("i16", data=(rng * 100).astype("<i2"))
 *     x.create_dataset("u8", data=(np.arange(24) * 10).astype("u1").reshape(4, 6))
 *     x.create_dataset("i64be", data=(rng * 1000).astype(">i8"))
 *     x.create_dataset("scalar", data=np.float32(3.25))
 *     x.create_dataset("empty", shape=(0, 3), dtype="f4")
 *     x.create_dataset("unwritten", shape=(5,), dtype="f4")
 *     sub = g.create_group("sub/deeper")
 *     sub.create_dataset("w", data=np.linspace(-2, 2, 10, dtype="f4"))
 *     if chunked:
 *         c = g.create_group("c")
 *         big = (np.arange(37 * 23, dtype="f4").reshape(37, 23) * 0.5) - 100
 *         c.create_dataset("chunk_plain", data=big, chunks=(8, 5))
 *         c.create_dataset("chunk_gzip", data=big, chunks=(10, 7), compression="gzip")
 *         c.create_dataset("chunk_shuf", data=big, chunks=(16, 16), compression="gzip", shuffle=True)
 *         c.create_dataset("chunk_f32", data=big, chunks=(16, 16), fletcher32=True)
 *         c.create_dataset("chunk_lzf", data=big, chunks=(16, 16), compression="lzf")
 *     # compact layout via low-level API
 *     space = h5py.h5s.create_simple((6,))
 *     dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
 *     dcpl.set_layout(h5py.h5d.COMPACT)
 *     did = h5py.h5d.create(x.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
 *     did.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(6, dtype="f4") + 0.25)
 *     for i in range(12):
 *         f.create_group("many/grp%02d" % i).create_dataset("v", data=np.full((2,), i, "f4"))
 * with h5py.File("old.h5", "w", libver="earliest") as f:
 *     fill(f, True)
 * with h5py.File("new.h5", "w", libver="latest") as f:
 *     fill(f, False)
 *     f.create_dataset("chunk_v4", data=np.ones((10, 10), "f4"), chunks=(5, 5))
 *     f["soft"] = h5py.SoftLink("/g")
 *     d = f.create_group("dense_attrs")
 *     for i in range(20):
 *         d.attrs["a%d" % i] = i
 */
static const char *const g_old_h5_z64[] = {
    "eNrtnQlcTekbx99baZMkUQgXocFQJCHdVktII2NiSGilcilkv7ZkT/aEbDHWDEq2bmXJvo4tS7ZomLGOEdH/d3rP1b3HuZ",
    "f/DDOY8376fn73fc/znvOc03vfc+57zvucqe3d25YzrGpImKSvT3SICVFOxWyaVaiaVyz3Z1XEaiyr67QU5aKSZRZseQV2",
    "/Vy7bl09PBjrYk5SbCevDFVV74T0X0ntPVy8GfVl84r2lKOlahfManjfiBHK7dL5L25XRPRU2q8J2wJtytL8C6LcfrXUtt",
    "97Bqp++ztR1Rf+tf+p9pvC5r1ZTWmjuZ80TqP5xuma7ZLZ5Qd3q27Xx6uLuwjtUtHOxNqq/XV7Nh/C6V9jy6jacf34ryV1",
    "x91bj+alBh92HnP4lqq18JUQzmNK56U4A1W7oQ5UQ+3t+gVCI/v3Des7hJDAcGkUc2IbGjF8SGhUVGAEa99/ULi0b/+ot9",
    "9XC8LXD5Qh7dn8izqq32+L1mz7bMNpn2LN+2OjOC/W0mynWM2jGprtFH7nVf88/3+K87+1JXv9ypYbsT26iOiir7UgQaHR",
    "gQHIV8QBZi6uRSJ6pNnu9q32DZOG9C35VPJvptcwfcPD+/YJGxQRzKxXxq5Xm5hhvcPCqE0VrM+E7a9FSlcSiu3osOvSUb",
    "o+tzYqLdNSyit8UeRFbJkiz9i2c+vSSaR0ghBxjosWZ79GjhypklcsHzHiXb+YFM1qGY6GBIaFDVLajqy80IcISUhCEpKQ",
    "hCQkIQlJSEISkpCE9KmSYryTO15sxI4oiYghMSP67DhVH8UwhfpxCqXf+YpxhjIl63Ngl+uUrC9iaDjdvrgmO2YgJub6xH",
    "wc4Y5DyCU0X4aWiRTL2fVpi3jHKXQ44xPccm1iUbKqCmIJ67kzsStL7Iq1FT7rlyzX0tIS0b2jI1jaImsr1i/OkQz5R/9v",
    "n+x41Pp/j8e9r/x48LdP9cdjXV1q4f91Hg9xedbGhBiWIYbl33s89OtRC5uvtH38v8fD4Ss9HiYlqzLRJ2+Ph+bjEKLmOE",
    "j/lfOguvuA8qY078veV+He51HcV42uo7q+gMBAaeAQpfuxn8i/PDu2oIVmO+59INX0KONKanhuavj9jDRGcvMz4q064O8m",
    "W57L5s9kzCvRrAxFzTial9DyMxLWXsLWl9BsPlt+X8Juj13+RFIi8c9Yu+cSz5IFhaz9K0kEU5z6mq1HnEvMrUTOtL6Wc8",
    "YjuiDjfnhqbnjqlYz8XOZDWsbNDlbx+MvIZcvPsPmsEp2n8F9C83ESunyehLWXsPUldH2pEnb9EnZ7kifs8mfxJR8kz1m7",
    "wpJiT8kr1v41I7kRzoodEJUs7+Csxfojg+8/wl/73IgM0w5198H3ffFQfGbsnaBOyDuhXILPEthJYC9BPQnKJavjO0iwfs",
    "lh+MLY/Jaay2zL2cAq3plZx57cXWnp8TtzU+O3x6cQEm8Tb5drH++Q1jK3FXGMd6zbJq1NB6dcpwgJjq1zvPMesis3PW1n",
    "fGouzOPx7Yy3i7fPdYhvmdYq1xEV2qCCEypIsEdMhcTiDcXpxYeKzxffLn5STIgxsSQNSEvSjnxPAsgQIiOzyFKygaSTHH",
    "Ke3CbE0KyGdVPHtt49AyKiJ8xYkLR++76cM1fy6d30IgtW11J9bc/qAapvurF6i739PoTTkGex3wL2LqNoI9trsa1f6wjb",
    "W/Vg9R7biw1je2326rcM2z502W+17s9U9VxYPUVV34/V3wjxZg67fIjloYzbDrMyNqxvkNFyVv99wAmfJSiTYJmk5MKK5G",
    "QRcggcBAfAfrAVpIAtYDPYBBLAYrAILAQLwEQwAYwHMjAW+ILuoBvoCrxBA2AN6gErUBu8yCTkGXgEHoB7IBEsAvNAHJgB",
    "smGbBTKBHGSAjWADWA9+AuvAfDAPzAXxYA4YDUaCaDAMRAEv0Al4gvagLRCDGsASVAUW4Da2nQeugIvgHIgFk4AMRAMp2A",
    "fbvWAP2A12gbUgGawBq8EqEAdmg1lgJpgBhgApiABhYABwB67AGTgBR1AZmAFTYAKMwSls+xjIAfuBHIQAf+ALvEF7kA7b",
    "nSANpIIdYCVYAZLAcrAMTAfTwFQQC6aAEBAEAkA/4A9aAQdgD+xAU2AEDIE+0AU6zPHAtneC7SAFbATOwAHYAGsgZpbDdh",
    "v4Oav0q7MUnxPBEqWyGHyeDCYplfnhcy/QU6nMBp8bg0ZKZVrMZ1CUWVq2Dp9XgySlMgt8NgH6SmWEaaP4QZEHTgE58Mf3",
    "RgbiQBJIAVJ8H6OBDEwCseAcuAiugDxwG1i4oo0BS1ADiEFb0B54gk7AC0SBYSAajASjwRwQD+aCeWA+SIE/SSAOyBjfGB",
    "/hzymQBx4xfQG2OwPEgXlgEUgE98AD8Ag8Ay9AbazTCtQD1qAB8AZdQTfQHfiCsUAGxoMJYCJYABaCRWAxSHAtPYwyCaXk",
    "cRTgzCJj4bsOpE+IiLRUnzfQ5Vzv6XKv+zjjAOqv+xax133cJ1lkn8V4CH2eRpe9GiYkf4dmezGrSTaa7RTXibLGmu0URy",
    "WuiWY7xXN/1o002yme90mx/aevpz/R7wsD8nZ8QnM7S6nHPy7xb/2+4B4P1fGy0t/X/+94g7S+6pFSpEWf9bjj+/odwmkH",
    "3PxfP17cJzcVKfozOx7UX8VzX9znp/7+/ptxPIj9rNrH+563jW6h2g8K6b+V3tc+TrUU2sd/OakbpxO3ULUbzrnf9HfH6e",
    "j1o+htuzvFeR6bO14npL92PjRk7Qz/9vkwqr7qlfLneT7ktiu5g9BGPsV5Y6czf2sQ0n/zvKHot3059036hwyNGNhHGtY3",
    "NEIpHzwyVKq8PDJkaJByPqhZU5X6YSOD1PwKCbK3CwukWjKBBDWp2trT5bb2JflQNh85tB9dL8dv/0/aH5XOKj9lqdle0V",
    "2Ja2u2c1aMKHLOm9z7cG/HP/RU7bjz9r6885zq72D2YQJizio3/8HnPW3OeU9Lm7iWHsoypQMI/+7vYMV8NkV70R/7YeNl",
    "0T+853vNasDSDxtXWyf5sHE1+YDP9zwnIlXeOc8lvadeIns1xLUrw8k7WvPbGXLyV9TYcad7jf6G3447SmHZQNVO3e+7PW",
    "rsuPvRqyG/HXc/HDrx23H346IaO+5+RHdWtVMX/8LCi9+Oux871dhx98O3C78ddz9eqLHj7scib1U7C3X9/3f8dtz9uKjG",
    "jrsf0V357bj7YeHDb8fdj50cO7Ga/fDtxm/H3Y8Xauy4+7Hoe3477n44dOe34+7Hxe78/ZTCPx3hEk9IQhKSkITE/wtMjr",
    "OLnJTcOJVnECID+i64AmCeowBiYA2SwGqwDmwEKaCIeT4KPyu0gA7QBY1AY2ADmgI70BP0An7AH/QDk8BkEAOmgFiwBCSC",
    "pWAZWM78ZFE8e8g+28DMD7DBdh2AM2gPvMF2sBPsAXKwH+ijviEwAsbABNgDB9AKOAInEACCQAgYAMLAVDANTAczwEyQBF",
    "aAlWAVWO1Kf8KKnelzFm+vGrBtfxDiUlqWg8/HwCmlMlPUNwOVlZ7hcMZnV+CuVBaBz1IwRKlsFj7PBnFKZWvwORmsVSpb",
    "h88/gfVgA9gIMoAcZIIskA3OgwvgIrgELoPfwO/gIXgEHjP/azciA0QbCogOtBzUGApIeSggVaCAVIUCUg1qBa0LBaQeFJ",
    "BNWOdmsIV5zgZsBfvBAXAQHAI5IBdcAVfBNXAdPAFPwTPwB3juSmTwh5TBugHRhQJiAgWkAhQQUyj8IZZQQKpDAakPBcQa",
    "Csg34GesdxvYDnaAVHAYHAFHwTFwHOSBG+AmuAVugz/BC1AIXoJXQA/rBkQfCogBFP6QilBAzKCA1IACUhMKiBjK+NMACk",
    "hDKCBpWOdOkA52gd3gBDgJToHT4Ay4A/LBXXAPFIAi8Bq8AcVMm8E64Q8xhAJSFgpIJSgglaGAmEPhD6kFBaQ2FJBGUEC+",
    "hQLSGOzBeveCfUpt8iw+nwO/KJX9is/3wYPSMhn8ISKsC7xNRsgDUq60TAZ/iAXKLZTs6iAPiJWSHeNPE5Q3UbKzQR4QWy",
    "ggTaGtoY5QQNpAAWkHBaQ9FJAO0K5QHygg3aCA+EEB6QMFxB8aCh0ABWQgFJChUECGQQEZ7kacZfgM5ICMRx7I4A9pBgXE",
    "DgqIExQQCRQQZyj8IZ5QQDpCAfkeCkh3KCA/QOEP6QsFpB8UkDAoIOFQQCKg8IdEQwEZAWWAP3JAJsA3IAOkORQQeyggLa",
    "Dwh7hAAXGFAtIJCkhnKCBeUPhDfKGA9IAC0h8KSAAUkEAo/CGDoIBIoYCMhAIyCgrIaPjG+DMRvgEZkDMKf4gDFJCWUEDc",
    "oIC4QwHxgMIf0gUKiDcUkJ5QQH6EAtILCn9IEBSQYCggg6GADIECEgmFP2QMFJCxUEAmwTcgA3JAJoNWyAPSWqmdwh/SFu",
    "Vtldrpd8gD0lXJDv6Q3ijvrWQXgjwgoUp28IdEoTxKyW4c8oDISsuc4Y8MyCcr2cXAZyADckCmQKdDZ6AcyICc0TlQQOJR",
    "DmSMLoQCOSCLkAdkKRTIgByQZW5/7/IF/sgYnwCJxboBmQkFMiAHZBYU/pC5KAcyIGcU/sgZnxajHMgYhT8yIGf8Wo788r",
    "/nnwz+yBmfpmJdQMYo/JExPgEyG3lA5kGBDMgBmQ+FPyQB5UAG5IzCHznjUxLKgSzp7/knhz9kGtYFZEDOKPyRMz7FoRzI",
    "GIU/MsYnQBYgD8gSKJABOSCJUMafFSgHMiBf8ff8I2hrzkA2vXQ9cvhD0Nac5yi1cfgjZ3xaqNSe4Y+M8SlRyYeVqAdkK9",
    "0+xtUz8+zoPzmeXxbLmQ8ipecKmfvEAYFBYX2jAt+O9yiN+8f6lg5F6ZUOCXl/wnFok3fGoee+rxnS21lkMadcj3u/gL3h",
    "xV2fMSf/gLXryimvxMmPC6Aar2a8TpFOs3YzOHZc//qz0d/mcOy4/j1k7bw4dlz/ZOwNw0Fqxv8U6QRrJ+XYcf1rE8y/Pq",
    "5/m4JVW4mZGv8s2WmMPdm8urCAYaxdL44d17+DrF0fjh3Xv9qhVN04dlz/xofyj4/qCeOjQhKSkIQkJCH96ynar9KJhtMm",
    "9CWTbwyq2zTWqOkGqah201iL3lNio8vqTsxsXfHBtbHDH41qsUsne5IBCu41uxH6cHzFrEDzrMUV2xk/uLS1Vr/j0+qWze",
    "+02CZof5xoTE+7UO+1becb1p1m9qJel1mN+qwutPKIL2+6J7WW4wjp3dl9IopskrvMblz98qTizhtveXbaP2PIQcnIY7Gx",
    "6UHXLl/tkRXtV+6wrVcWLn1OSZraH7RwtRxperZq/xlzV/Vvp9evav/27ZqIa/uJzPZMcP3xlpxJefIKDhMGRZ+dHjKudt",
    "UBCxq9yJ/eJf/Yi7yl31S8ZvH0SKx5jKOPbd4cPc/fCyKPV1rYS+p1sMraZ/eGZNm2syraUaF1apjvtpsL6zfw/N16552Y",
    "7259k9PeIKFVv+UelrGOK91cF9oV66Ve/C4fx+rIXs8JIouYGwtNDCrcbXuobYU55Q1eXrGsttTKyt3RsP64Mz6P1vasam",
    "l5rtukc3WePhk/MDpvloNfHeMHhf0PLSgnGf30QHyZyKBOix8dXlTBTffZvTM3Jto/3B69oq3rfMNAT7OcubfmNKpSw6FP",
    "ba8Hl1KCDjQp19XU09Hn9tQ349yvXP3z18h6XXv37uLqObFFwh/VasZ3eBjt19//4ujY8X0rmvTXjpTd3DY4Z4fWgR+lOQ",
    "fIgVXSnALRgaHSHFtyoNjS3XySrK7z4zIOt3VkNy0dbptZWlhYWp7yqCXOnDO+VnaF3mY6pNKYSj44+tltIjIHE3Lquq27",
    "u3uv/eNM5rStWr9APDM2dsXETO/XeYbh8xu+2DfeelOmv8262c+1rnX00x9+yaSB/eiU0KPtzDdf2Tn07rWJW60n7TSYm9",
    "xpiW3wtQktKu/dEXBpVMPum3qk9c2tv3zM419m9b4++s/sZcufV3eIun1xqk/wid4v7xzZcf3NzscXVtU/6Vf0VLJL63yB",
    "42DGow6eWrgiPjU7ekGcicGgpOBY/QqPG5wwl/ZNPr3So2xmoeGJH7w7NsnLWlx5r16TSSMbTIr5VvL6Se4svdl+r5utdo",
    "u1+CNz0eyDnV8EnAnuM7p5//OJI8pW/rZHar9fEspdD3sZcTS15rDfLg3POzWnf32vpS2H3zgzf2CLiNePLywdNXuZ46jH",
    "vx4f9bLm9tQ2opKj46mFH3mnBplO1X/cqEKtWmtaVKgw55HRrNDzlc78vNflWMaKzMwDR3ZNyD9ZqdFvbaIrNPmhQu9Xs8",
    "ZE3jzn3rh2wZxDyxY1/e2n4GVLHmdtXFi5Uc+fww4M3HDNN+3Gps4P9/yZuSC85pifb21r0+e31tJ7OVubXX/96Gx6n7G7",
    "pQWzG16IuLLr6QXJnzVmjD5Xu7i86ahW65kG4HArRy4VxW4VVaivq2tbP+o7fanWtN15cQ3JNPMbcff1pnWR10ozst5nOe",
    "WKX9ILJ8shP8hu/jA4Z6/utIzMWofuHTtF9uOn6ssaJs7YvQN7W00QEdnpPwuC53UPtRpoO+1OtZx1G0NWN85a0zp7hNfM",
    "mDchYQmLkvc9OhYVmrBkc6eyZ3eEFlS7ntA9ufXZy9ttry6pUXRvU8HhZ2EjbfcmDEtukTFqUKtFTp2WJzc5m1Zwr2Zxgl",
    "fytpPZkvOzml5V2tzwb873c29YZfovJ9O+796068A7pruigh1OFjhWHeAYlVz27JrQfgkJmztd2Pd4U8EJu2bYSqfIs6vM",
    "/RKWdTqZbH52Q8HxZ7/Pv5A8syD7WejLpuGdr795vCU0+PIS4+RVBQEvq70RrfRpdobZXsPuriLinPnja/f5DapWWh9y26",
    "VSrOH3toaDtBtfNYhMbhzz5t6ZqMBdz2cO6jw8eWrBNbvmbRbVeH07+OwxuxZ7F1VO/uHskoU1OjU8e/lZxOVFqclLJUWh",
    "zFaYnQt5+XhLl+Rtoc8cirRvzrc7FO0XfrSWsczGxP10S/Ji5KM/xEvOTdyydp/eolXN9F4s2bh4YZNBnS8/jVpzePLxds",
    "/ndm7eO/Dp/NdBPl0uXCoKGHfJ7kw5+3GX6i/pvmvyc+1a58u7RvvtOGRrKhJhfU4J69ucrR1mINLSsbrfKNLuoWnyr9+f",
    "7HK+bt1RHY0XWC588GtwTgefmMTmgTkePvnrByU0vb25wG3u2mSjEQVpQTntfGLCULThm3E7a8ZaORxk1tzG2EVk4X66R8",
    "Lt8CNdmq1wHj8hRqtj4YL8sCyr+nOXbF4YsG11wP3DJ+a+jq8UmOPik7+uC9awscBj7oZko/SC3UE5bj4xjtheR5/8TRJm",
    "5YXZY3/f2dI62m/Tod3lsrzN3DO/PX5m4PST82UEDVRkcnHz7QUHzTI9V/3SYVgdj+fLLB1bznp2eHm7etPqmXfu3Tw9dF",
    "q94a9P2S1u7gG/Q56cMXt9vmbn07c3/OQx93sfu0svisdWn9tyGr4AIeuGB/mHkH6Nklb8sviGc8NhLadEBMfERDwYYlRx",
    "aRXLev0WtrYpZ+1UfXevbMukMZEpR1s20rqcpr/bshwhCUEVKjHfIYsydao8uLgv/P6C40vyiiaXzT+5pHWwfeL1Xy6dvn",
    "b+stbdtWus6u4/4J5ZWDmoXlvdka2kTuZ61cpWzK7pMA4d+8DujXqQuz9ahFi315fKC42MyulZmFnmOZbVmy2LnWQEm2Xa",
    "7bwS08ndyMePDPSnxmI93e2HGXs1lo7t2ba7l59LBWzq6tncCxLRiT47Qx7Hrzm6ILtwilh2pGii9I2LvvxwcEpa2nCpVB",
    "ZZvRapf91Aa91BPdJeGrSZ3ihmsGH5zMfRHOg4GjsBWYsdR2Oe4A4KC1SKa//e8bVTA2mRIjwea/L3JmzQcTTdd8bRbESa",
    "6+mzkU32csq5zxvuZ8dFrET8yxXJgZ0wdYizHq59L/YxYn82L1azvjrsewN8OHbc9U0coZq34dgJ4zZCEpKQhCQkIQlJSI",
    "pxNPobItFh7IN7c7KnGNe4mDHo4bKru4dFXEkZe/Vy8w0/bOq1dfSlM3Wnmx9PaNn/5faffOp1SXBYkbElbe3u9J+2rtic",
    "vH7lxtXrxE3qN6xTu5GVtfzkoaPZxw8czjxx0LOjW2ePDi5ebT1dO7m3l82+e2hh+UF+zGjawfllg70sW6YEn5jxTcWRrX",
    "pWbWDY1LS2lqOlhZPjTql/9gSDcgbGhkZ6VS1Mq9ZrdFGalzWxvJGllqlhVd0ylcp9W71NxeRji7b5H57WvFpqr/TBdzPn",
    "mg9yGl34eMr4qZNnurl6tvVy6eDR2a1ju5PynP3HjmcfPdREbG3VqHaDeo1rfbNm9caV65M3r9j6U/qaHZv2roq8ufqwT7",
    "LXEqf++RsvReafWJKRZzIz08U1j5hezBiXoW3kYKrjdY6Qggd6TejxMhuv2y32YPWoJ8b4wRT3eNr8Dd239Ngd8Tpm5hL7",
    "QZd2hb96o61XvrrTkGcXH1es32WpU+TzKzvut4i4tmvM3d/3vipfw2lk0e2C3OEPJaOLnhUevTDo+riioj9ela9YsVmzsm",
    "UbNqxWrXVrPb369ZvUrCnJkMmSkuLiUlJiY9etXj1v3vbtM2Zs3JiYuGfPhAnT1q9PSNi1KyYmOXnBgtTUWePHr1gxZ87W",
    "rVOn/vTT4sXp6Ttmzty0aenSvXsnTly1au7cbbt3T5mydu3ChWlps2dv2bK8j7dU2r59SIivb3S0u3tAQLdevUaPdnXt16",
    "9r1yFDPD0HDAjq3n3YMC+viAg/v7FjXVz6hob26DFihIdHYOD33w8d2rmzm5tbHRM7kUszk+0O3+knTsFPGHGDK5voMVo9",
    "QVfsfsNfaqtzaqeFVkgvI5Fd4xhS1dyNGFtWNZbZGj24mD7wz2V7X+UVPTVv7Ldr9J0GicUPCqcv3OKXMf5p8ZtXJ+XyHP",
    "27kYMHRz599CircGW/fjdvmppK961cGR//88+GiVtWbdiwdu2W8nd/9PXt2bNHj+zCE40bb94cESHdlzHO2dnf3ySxZqXq",
    "1StWrFYWP4PXrA0OCMgqnOzhceBA3brSseHhvXuPGaOdeP3MmTOGOtJ9FXXisobrajnU3F/lyGhy4Zn/3mi/O8c6GMpsjC",
    "bfqLEp70CvlnneA74dKr9hXeP4uNBb5z0yy1+rbTXC83XiiS3BK8fv/3HNgcL7fc6v3ew81bB5QuXqIy36b6yeZ5P1yiRr",
    "UpWy58u1Nk6Me/3TUad6r3yGa2908b9RcphuyFfcICbZ6WJjk+xC/0va0sbdWsaQCZL9zuYmUcOHZxe+rijzv+nuMO7Xc6",
    "HONtVPLG8z6rmlWPbUXCtzpcf0vKIVuom1ZAMgZNzwBiH8kSP5ojXyRUhMVxNlki+yI180xZVqIlLyRYHki7w4XU30Sr6I",
    "kXxRGkPURLrkiy7JF9GxlZqomHyRKPmiPxqpiaDJF7WSL1LkHjXRNvkiXPJFlWQiOfJFRuSLRsj3FD/z5DxfFEW+yIV8T/",
    "wzgzh8ERf5ohzyzQ7YriY6I19ERL6ZBMzT+3yRHPmiJ/LNOrBXE/WRL9Ii3wyFADURIvmiMvLNZpiqJpokXwRHvpkPSa76",
    "NcMT6f8tif2/ydn/Wx77fyPs/83E5d8aR1N9Hk2bHaEJCguM6h8SOEQRAEFpvMxiHO942ad8Hu3dcTSd9wwgnVe831JH8z",
    "ia91RVO3XjaN1m8ttx7X3nqNqpG0frNZ/fjrs+/8XCOJqQhCQkIQlJSEIS0oclbjx/vhj6mhI39j9fvH1NifueAL7Y/JoS",
    "950CfHH8NSXu+wf4Yv5rStx3FfC9H0Dj8ee814DvXQIa/ee8A4H3vQPvS0pzzvnmeWvcPmd+Ot+ccI37z5nLzjd/XOPx58",
    "x755trrtF/zhx5vnnpGtsfZz493xx2je2fM/eeb767xu8fZ54+39x49SkpcnhH/rnzfPPV+eaIp6mZZ883t51vPvkJNXPy",
    "+ebB8809v6Nm/j7PnHneeepFaub6882v55vTbqAmLgDfXHy++e+V1MQQ4Ju3zzdXXqwm3gDPHH/eefXMPHa+ueF887H55k",
    "C3UDOPnG/uNt98aTc1c8755nnzza32UjM/nW9OON887J5q5rLzzR/nm7MdqGbeO99cc7753YP558jzzUvnmwvOzL/mnU/P",
    "M4edb944meRm3dfC9t3YCnzxDDQlbhwGvtgHmhI3ZgNPnASNiRvfgS+mgsbzCCcWBE/8BU3pnbgRfLEaNCVujAmeuA4at8",
    "+JR8EbA0LjeZATO4Bnvr7G7XPjDPDN7deUuDEJeOIAaNw+N34BX8wAjedxTqwDnvgCGrfPjYvAF4tAU+LGUOCJW6ApceMt",
    "8MY4UJ8CdgZZ8cZA4Is7wDfXn5lfzxcvgS9GAV9cAGYuPl9sBb54BnwxBJh5+3xxGPhiH/DFG2Dm+PPFbOCLk8AXm0Ce9F",
    "Hm2QtJSP9WqlEn0PidGBl8cSk0JW48Db4YFhr7UU7sDb54Fxr7QU6cDt7YGBp/T3FienzcOBpCEtLnnF7P7Rv0z99bt1a5",
    "t07GMMu1ieItAsw6yojI25u4SvfYo5bRIs499vYf9Ziou7fObE3TNJWN66g+4hhx711vZN/mu1abf7kiJW6mepwzl4Vr78",
    "a+1deBtROrWZ/JdqrsMVR7b709512Rwr11IQlJSEISkpCEJCR1SXiqXXiqXXiq/b/6VLsu+3CNWJukgh1gO9gGfhZr51Uj",
    "ZIW4PklCdjlYBpaCRLCELp6GxVORjQVTQAyYDCbRxUFYHIBsP+AP/EAv0JMudsBie2TtQFNgAxqDRnSxIRbrI6sLdIAWIG",
    "JtUVFmXrU2WnAdyxl3U8BGsA6sBkmla2fWaA3EwAKYAKwyT0y0mQdKkJOLtXVKHijBZ+eSiiIHFzHjTXvgDXxZ50Poapmt",
    "7qEVyX6QA46BUyWLdUoe9kDWmN2aKTADlUudaoWsI3CimySuwL30gGE7ZAAIAxFACoaUHu7pyM4AM8EsMBvElf6zViK7ij",
    "0Qa0AyWIvF5sxAgC77IAXK1oMN7IHbBDaDLezB3Er//yXtYDvbLpj2wbSTDHbXM0EWyGYPwwFwEBxiD8lhcAQcZQ/PcXAC",
    "nAcXwEVwCVwGueAKuAqugesgD9wAN8EtcBvcAb+B38FD8Ag8Bk/AU/AM/AGegz/BC1AIXoJXoEisrc08SIE2RLTFeozoUC",
    "lDRZeKHhV9KgZiPWdtnZIHKMRlmYLytNyESgUqplQqUjGjUkncmlShlarSkmpULKlUp1KDSk0qYmZ7xErsRurSqvVoeX0q",
    "1lS+odKASkMqjbA9G1rJlpY0pdKMih2V5lTsqbQo2V5rbM+RVm1Dy52oSKg4U3Gh4krFDdtrRyu1pyUdqHhS6UilE5XOVL",
    "xKttcV2/OhVbvR8u+pdKfyAxVfKj2o9MT2/GilPrTEn0pfKv2o9KcSQCWwZHuh2N4AWnUgLQ+jEk4lgsogKlIqg7G9obTS",
    "MFoynEo0lRFURlIZRWV0iTjLGKHdC/PAAz6z3Y2ITBCXV85OVM5qkUluuuyzDijZBXYDpsfZC/bRb/pJfNPR4ZDT4Aw4C8",
    "6BX+jifCy+i+w9UAB+BffBA7r4NRa/QbYY3wfCfh9EjLt5lkyv25DJl6U7Y8SIFinnlmfpJJJVQsXK4mbMAnO63EJRrRat",
    "VpsW16FiJf4hryoRyRqh3re0XmO6pImingOt15IWt6LSmq3nhnrutJ4HXdJWUa8LredNi7+j0pWt1xP1fqT1etElvRX1gm",
    "i9YFocQiWUrTcY9YbQepF0SZSi3hhabywtHsdILV/moDhPEjdR/KMnq/yj80oGmcvQm9bK//Apqv//WNXs1NIs+p2SG9bi",
    "isoGM1XtZ6lmZ9Oss7Y2c6+aKYlXrT5X1X6eana+uDyqLnQrLVmkWn2xqn2CanaJeDeuEVQqLFO1WK6aTVLO5hUT5m81e9",
    "ymcY7bdIUtGnEZehuP+WeVGsxhDJizcMk9OqZkgarBwpJ/tE7JLThFWaLYTckDS+Y0qlJn5dutUu9yGO8UdyAs1LwlXZf9",
    "faX7/95xECneFit+Ww8XKk64WsMFiwkuVLxBLFjHXFkTU/Y9l0ylof0NBn5ub0+nb/3WUvvWb6c9qiP7z/Op+gs/zf8TSf",
    "HW7xQ2zwadJ23zFd8rEf2eseUV2Hs6C36l+dQHmu1iHtJ88mO+dqn+bfQL9inu5Anpv9wufTl3EvN3q9qxQf7e3mX9u/d1",
    "FW93V7S7lDKq609Op3pwt6pf1zJU7XTlVOuxc0QU34vn+1Xtahxg++FDqv2w8RFVO3s23/3Yl/H/e/ft7qrnZzbY5Fv94P",
    "OzFudt7qKihvw9xed1HqbtSvTWy5i9wnf8r7Ur/vMM9/v2vvPL5mzh/CKcX949v7TN+rTnl3+uX9Rp9CX2i8uyhLb5MftF",
    "7vXF+/rFgzlCvyj0i+/2i36HvpZ+0eiL7BdTDwlt82P2i9zfU+/rF68dF/pFoV98t18cduxr6RfNvsh+8cQxoW1+zH7R6y",
    "TNR5z+sH7x+RmhXxT6xXf7xVmnv5Z+0fKL7BfzTwtt82P2i0HnaD7m/If1i8YXhX5R6Bff7ReTz38t/eLlMV9iv/jmvNA2",
    "P2a/OPYSzS/L/bB+sd5VoV8U+sV3+8V9uV9Lv3jzi+wXK18R2ubH7BcXXKP51LwP6xedbgr9otAvvtsvns/7WvrFX7/Ifr",
    "HxDaFtfsx+cfMtmj9x58P6Ra8CoV8U+sV3+8Xf73zaflGRgodIbWxYtWW1KavNWLVjtTmr9qy2YNWB1ZZUbdn12dqSj/3c",
    "qj4bhwm/s06qHg/uuL4iQo/TOVU77jiX4t3d3S+p2nF/9zmz5RHXVO2410GK/Yy5pWrH7RcU70DySuesj/PcuaJdDOPYcZ",
    "8791fYPVO1W8bm9z3/p8+HT77I86HTPaFP+ivpvdf/vwvnOeE8x3P9/+Bruf5/+WVe//8mtM1P0d81fir0d0J/925/d/Dx",
    "19LfjR/wJfZ3NZ4IbfNjjndwf1+8r19s+0LoF4V+8d1+8drzr6VfnPpF9ov2fwpt86+k/wFhL8tJ",
    NULL};
static const char *const g_new_h5_z64[] = {
    "eNrtXAtQVNcZ/u++WBaUBUHRoqKC4qPKcwXRvYsiLEaFilqjjmaFFVFYGR6KjjbUxNSUhGE2xKkdknGixbe1PhYfyBIT46",
    "NJtNYmM13tqDU+qrbWMShjlZ5zz7nL3b1C1b12gNl/OPzn/Oc7r/8/59x7HnffN6am9dD008jVauCplZIxk4SjqXwPO/RR",
    "pjF1hiy8LMd3mdCVa7UAAyYTWCKFa2TAAKj8ATEm7wsqVQXgsKLQZFm1ZiQV9cIidc6SMsuyhSvip02iYpxSzShKli8ulc",
    "GYPNCCiH49qDqvgyqNUxJY7POqVD6bIdKQIFC0tZonnP42RSRRrtLilMrFuvgC82A5zdTftUrfbJrxXjtVkgUJ1csTrVQP",
    "nLWsLDFtMMkHl79uGPHH88oLxCBVSY6pwFS8IMKlUubCotJVSyP5lgqrFJcc+kXmJOMb/hkAclCBGoIBFueXm3OhF0OwMo",
    "Zh+Abx3FRQtMTE+RaZ+azyTIWFpoUFyy15/qUYKUdZocxWFEBfhuEshB1Rl5rLVUFT8pwhUU6ZTBDmS+bDDC+jYYz1T8Yy",
    "DSoVpSaaWNhe8ei/UpAc+/2H4+QKktxSVgiB4QNp3cKhjxr6vM3XCZrYo397somzJeouDDKCTM4wMjct8e1qTy4PBiYwnK",
    "V1MEC8H8S3IpASmV2uUaMuoWAglGCb+PZXQ6ej/TvnKCXRxaCOddHUBXSxYP+1Ajygnj+g8cgtV7nOnQM07xyXRnvi3irU",
    "XkVfgn2rE2tvbExLGNYe1tNBHyKbCG2zXiidAUdT2dcf9ZJGd+EBNF4LGiVoAtx0d6Wvq806o+5+Nv/Mj7zuMqJc9aTqia",
    "c++eIY3XaV6/MqRodm8HAiOxD2KLstv/RJmVMZoPOmc+psI3d9rl692iXMx69a9ZxZHlE5tE29Qr7EXFCwXFBORQB4yUte",
    "8pKXvOQlL3nJS17ykpe85KXXSvftl2yFDlvhHXs9Zo4bdmtEBvq7RuUOGr5gr+H4CTufspqEWSK/wFI8S9OzJHiDyu+wtD",
    "wa/4DlmPUhxTWzU7iIFop/wlqw2PaUpgMDB49gDCS9zGC/TyLsdwptjkLbJfsNB/bU269lRFjRn91B5Rdo+ATHa/j6syRc",
    "zZL4GpbiWZqeJfnZWJo/S8tjH9D4h1bOwzZTXAsnnsI+ofinmDksBr4BDBefYZDR+lSgus9D9dU5LPagjMhGVPdGK+LIj/",
    "F6xPUorEdyFvlZhGMRnkXpWCRnt1ozWJQ/ewbVBWPu2Ry4LINvhNWA82hwHK0/Yj3ssFkPWvcBWKOt8Q6dNbE+yTEOxlvH",
    "R06on5Chd+gtLNKtwWpogKOOI/WHrTYHglsBENyqcyRak+rHOcajBBNQAj1KwKIW4QS1rbtaj7Seav2u9Xrrg1aAnhAGIy",
    "AJ0mEW5EIxVEAVfAK74Aichu/gOoAmeEBU7Pi0rLm5lvJ1H2zcvPNg4+kLl26QndP/hFK+jfCnOspPEv5sJuV/p1utxW4d",
    "uYruPvWnfDfdpUqm/CzdzXqT8lt012oF3Z2i21NK2j9UQyjfT7hPCuXnCVcvoPweQBZWe1Nx2Cn79cQq+66dI+xJVTmNyO",
    "mRn0UyFsXhfmwQ7HqxxHEy5AzUVVC3mbom6q5QBynEaakLpy6aOj5fr+sczkte6pwkzZlUx+cq2n4E25nPVbTZfi0e68If",
    "GK0anLoQ6sDgroPfdN4+cTwk9TI+Y+JPj+JiF5kL6JORnjHlx+j8BxFJ1tKldqfmIlDrZW1n/io3DamEmoK2g3qhpoqopk",
    "L56mzvOqNpVLjtjiS9yBecZ+RC3WygumnqAr1oxPtBXzl1oSDtJaewHZ9gG3/iqo+2xnZhOjAsx32MgJv93cMvoiv+xoEz",
    "8ebOr4odJbXfOnURTG4euZ8Ov0zbg/mM93W9bmFtCNjDn+ZPobfh+LtqqmA8P/qWWVYW55eWmi0rhhL5+KHLrr3K/TJydS",
    "zXbC4yF6+kNwdgkiTNuLXhXKDwgaGLX2QerXB5YJSULbLRy2xJxwdnv0oDyK29lZrhtFSjdHZg1Zfnu/dJ/gad5iX65FQ6",
    "d0V14T7ZHPhZNaeLQe7mCXXqRuX+PO9IN77qMDyb4+d5hR5NUWg9pDWQ9fIG5LYboLGrT++Xv1lzSTAA8vEAmMHvHQRhmU",
    "/O8sIiU05p7xFEuuejjN0dDoK54wjwLuVkEMCc19eITy8e+vjVx+WKz0ZJPy4f96/xcx+XMvf3pxcYl6V0XKq78Lg8/+XV",
    "dR6YJ2W09ObZ926RjxTmWdMNzLP2jdFTPDDPlTHSm2f4yHkOKczzbjcwz5JFP3/qgXnejpHePJ9+mC+JeT7oBubJ+euxlR",
    "6YZ3qc9ObJ3HGgMS3FmIoUq+HXom+mEv7wnfNXO9xN88CcNd3AnCHDy296YM7+CdKb8+Jva6+mZWdPhiB6FsSMZOAv2ON/",
    "e2CP/7E56oE5a7uBOc36xO89MOddnfTmvL9v4ycTZ6LRyX3lg9a2kBtlTCdx3BdJHOk26adJa86t3cCctr5GuwfmPJYovT",
    "lb9gwezI3O5jQ6OrUM3OcMsyZgTuVrG527u4E50x9Mb/bAnLkTpDenz/5v/5E2w5gFPpw9BB9u8nUYSfc/+dkY3K1Hyf8F",
    "S1QIUjLU4AwYnaP/xLObA7n5Qolxftx8kZvMl8GXkvKnupNp2fiZz9ePAVfeVl4WlHOf1JCYe/QTTbpB7+TmgyFhE2dOTQ",
    "Ol4z6ang4BPhia8Z5hECRw3uQzTyKhjPNemBYRDWbO+wffEiPM4ryHcv6dDx9z3qqCdUUQwnljTL/fBus57xF2/E34Hect",
    "7vPsFkzmvLOHPLwLkZz386P1LXCS82Ze3LwHvPR/JikmqoPdYKL6fNhUvQcTlZyVfqLK/7B3nRTmaegG5glfVhHlyf6fQX",
    "rz/Dm5ulkK83zZDcyznbVs82T/b+Jr2ME4WbNeCvN83Q3M86sB50zuR7zuR0gvdaTkx+lGBnJGqVTINQP4LY7NnV8XP275",
    "PiQtJRX1OL7WF6mFE8MIr6Uc6EXN9Nn92pt7SDcmv9GRS1cHDXRF+fyO7/yY3CNKLWnZ0v43/qreeFj55ZotJeaFptLS4p",
    "JKujdUuXLebe87j5C4lYC6vZWAlr5a8ys/cP/BEOBX9S+8ElC4rgSi8Eogg5c5Yua0kHd87Qu940c5Yyrpwpf2ZSfPs+Qk",
    "c+/4apiLkRG4cQDHJvcJhiCB4F99soYAd2OYCmqntCbAOoFgd37ZBDiNk0QSgTI6QQ+/EAh6flWaDr+UtQnKzNnTYYsAEb",
    "daORPGCTLdOLBmFtQJkiTv9ZsHYwWCY0bbWvijQLB1yw9r4awgjx/OPl4L9wSlTN5nWg9BgiQbqiZVQW9Bki3HKxpAJ2j+",
    "4cpzp2G+IMnJ7WG3oU6Q5FTfkXfhnwLBoeodrXV1j6q6QB83oumOn544Knkr24p/H8cfd0dTNOCbgfydLuEitw0TI8IwIk",
    "ysCCMTYeJEGLkIEy/CKESYBBFGKcLoRBiVCDNWhPERYRJFGLUIkyTC+DoxCl6HYkVrxCCxpv3EILGq/cUgsa57iEFiZfcU",
    "g8TaDhCDxOrWikFifQeKQWKFB4lBYo338j7O2h///J0N7jVt6PlnDCjziouiowNG8Q8YLhyz96cu4dhpY1zCcXejXcLxlb",
    "Eu4YS58S5h3XCdS3js47Eu4cRTSS7hpCK9MBwTHWBwCcfsTfEa9CXpvzae4kI=",
    NULL};

/* ---- helpers ---- */

/* base64 pieces of a zlib stream -> the bytes (malloc'ed) */
static uint8_t *unpack(const char *const *b64, size_t *n_out)
{
    size_t n = 0, zn = 0;
    for (size_t k = 0; b64[k]; k++) {
        n += strlen(b64[k]);
    }
    uint8_t *z = malloc(n), *out = NULL;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t k = 0; b64[k]; k++) {
        for (size_t i = 0; b64[k][i] && b64[k][i] != '='; i++) {
            const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            const char *c = strchr(tab, b64[k][i]);
            acc = acc << 6 | (uint32_t)(c - tab);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                z[zn++] = (uint8_t)(acc >> bits);
            }
        }
    }
    uLongf cap = 1 << 20;
    out = malloc(cap);
    if (uncompress(out, &cap, z, (uLong)zn) != Z_OK) {
        free(out);
        out = NULL;
        cap = 0;
    }
    free(z);
    *n_out = cap;
    return out;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

#define FNV0 0xcbf29ce484222325ull

/* Read dataset `path` of f as float32 (a malloc'ed block, NULL and a status on failure). */
static tfmq_status read_f32(tq_h5_file *f, const char *path, tq_h5_dset *d, float **out)
{
    tfmq_status st;
    bool found = false;
    tq_h5_obj o;
    *out = NULL;
    if ((st = tq_h5_lookup(tq_h5_root(f), path, &found, &o)) != TFMQ_OK) {
        return st;
    }
    if (!found) {
        return tq_fail(TFMQ_ERR_PARSE, "'%s' not found", path);
    }
    if ((st = tq_h5_dset_open(o, d)) != TFMQ_OK) {
        return st;
    }
    if (d->space.n_points > ((size_t)1 << 26)) {
        return tq_fail(TFMQ_ERR_PARSE, "too large for the test");
    }
    float *x = malloc((size_t)d->space.n_points * sizeof(float) + 1);
    if ((st = tq_h5_dset_read_f32(d, x)) != TFMQ_OK) {
        free(x);
        return st;
    }
    *out = x;
    return TFMQ_OK;
}

typedef struct strs {
    size_t n;
    uint64_t hash; /* the strings joined with '\n' */
    char first[64];
} strs;

static tfmq_status str_fn(void *ud, const char *s, size_t len)
{
    strs *l = ud;
    if (l->n) {
        l->hash = fnv(l->hash, "\n", 1);
    } else {
        snprintf(l->first, sizeof(l->first), "%.*s", (int)(len < 63 ? len : 63), s);
    }
    l->hash = fnv(l->hash, s, len);
    l->n++;
    return TFMQ_OK;
}

/* Strings of attribute `name` of the object at `path` (st: the status). */
static tfmq_status read_strs(tq_h5_file *f, const char *path, const char *name, strs *out)
{
    tfmq_status st;
    bool found = false;
    tq_h5_obj o;
    tq_h5_attr at;
    memset(out, 0, sizeof(*out));
    out->hash = FNV0;
    if ((st = tq_h5_lookup(tq_h5_root(f), path, &found, &o)) != TFMQ_OK) {
        return st;
    }
    if (!found) {
        return tq_fail(TFMQ_ERR_PARSE, "'%s' not found", path);
    }
    if ((st = tq_h5_attr_find(o, name, &found, &at)) != TFMQ_OK) {
        return st;
    }
    if (!found) {
        return tq_fail(TFMQ_ERR_PARSE, "no attribute '%s'", name);
    }
    return tq_h5_attr_strings(&at, str_fn, out);
}

/* ---- walking a whole file: every dataset, sorted by path ---- */

#define MAX_DSETS 4096

typedef struct walk {
    char *paths[MAX_DSETS];
    size_t n;
    size_t visits;
    tfmq_status st;
    char prefix[1024];
    unsigned depth;
} walk;

static bool walk_fn(void *ud, const char *name, size_t len, tq_h5_obj obj);

static tfmq_status walk_group(walk *w, tq_h5_obj g)
{
    tfmq_status st = tq_h5_links(g, walk_fn, w);
    return st != TFMQ_OK ? st : w->st;
}

static bool walk_fn(void *ud, const char *name, size_t len, tq_h5_obj obj)
{
    walk *w = ud;
    bool is_ds = false;
    size_t pl = strlen(w->prefix);
    if (++w->visits > 100000 || w->depth > 32 || pl + len + 2 > sizeof(w->prefix)) {
        w->st = tq_fail(TFMQ_ERR_PARSE, "walk: too many objects or too deep (hard-link loop?)");
        return true;
    }
    if ((w->st = tq_h5_is_dataset(obj, &is_ds)) != TFMQ_OK) {
        return true;
    }
    snprintf(w->prefix + pl, sizeof(w->prefix) - pl, "%s%.*s", pl ? "/" : "", (int)len, name);
    if (is_ds) {
        if (w->n == MAX_DSETS) {
            w->st = tq_fail(TFMQ_ERR_PARSE, "walk: too many datasets");
            return true;
        }
        w->paths[w->n++] = strdup(w->prefix);
    } else {
        w->depth++;
        w->st = walk_group(w, obj);
        w->depth--;
    }
    w->prefix[pl] = '\0';
    return w->st != TFMQ_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hash every dataset of f as test_h5read's generator does; the status of the first failure. */
static tfmq_status hash_file(tq_h5_file *f, size_t *n_out, uint64_t *hash_out)
{
    walk *w = calloc(1, sizeof(*w));
    tfmq_status st = walk_group(w, tq_h5_root(f));
    uint64_t h = FNV0;
    qsort(w->paths, w->n, sizeof(w->paths[0]), cmp_str);
    for (size_t i = 0; st == TFMQ_OK && i < w->n; i++) {
        tq_h5_dset d;
        float *x = NULL;
        if ((st = read_f32(f, w->paths[i], &d, &x)) != TFMQ_OK) {
            break;
        }
        uint8_t rank = (uint8_t)d.space.rank;
        h = fnv(h, w->paths[i], strlen(w->paths[i]) + 1);
        h = fnv(h, &rank, 1);
        for (unsigned k = 0; k < d.space.rank; k++) {
            uint64_t v = d.space.dims[k];
            uint8_t le[8];
            for (int b = 0; b < 8; b++) {
                le[b] = (uint8_t)(v >> (8 * b));
            }
            h = fnv(h, le, 8);
        }
        h = fnv(h, x, (size_t)d.space.n_points * sizeof(float)); /* little-endian host */
        free(x);
    }
    for (size_t i = 0; i < w->n; i++) {
        free(w->paths[i]);
    }
    *n_out = w->n;
    *hash_out = h;
    free(w);
    return st;
}

/* ---- the real files ---- */

static const struct {
    const char *file; /* under ../shared (models/) or the source tree (tests/) */
    size_t n_dsets;
    uint64_t hash;
    size_t n_config;   /* model_config strings (0: not checked) */
    uint64_t config_hash;
    size_t n_layers;   /* model_weights layer_names */
    uint64_t layers_hash;
} g_files[] = {
    {"models/ad01_autoencoder/model.h5", 133, 0xae6d15a7437c1811ull, 1, 0x26641c3ee181a5a8ull, 29, 0xdd5e48fe0ef773f1ull},
    {"models/resnet8_cifar10/model.h5", 117, 0x763859d47cc58bf5ull, 1, 0xb5e8d9811770f2bcull, 30, 0x7a5197004937bd3aull},
    {"models/vww96_mobilenet/model.h5", 385, 0x5baf6b5deb098270ull, 1, 0x8201a225fdf620f1ull, 85, 0x76648f5808ea0731ull},
    {"tests/fuzz/corpus/fuzz_keras/k2_cnn.h5", 6, 0x095d5cb22e1ccd9cull, 1, 0x444549c6562513d6ull, 4, 0xc04ab27bc820a4c3ull},
    {"tests/fuzz/corpus/fuzz_keras/k2_dense.h5", 4, 0xdab4e755ea6a05b2ull, 1, 0x93ebb68b5ed93c92ull, 2, 0x3aefcbff5939e355ull},
    {"tests/fuzz/corpus/fuzz_keras/k2_dw.h5", 4, 0x9f7d304383ab8a4aull, 1, 0xd5eb64b2c6bedd2dull, 4, 0x9f7dbc15d0d21cdbull},
    {"tests/fuzz/corpus/fuzz_keras/k2_dw_v2headers.h5", 4, 0x9f7d304383ab8a4aull, 1, 0xd5eb64b2c6bedd2dull, 4, 0x9f7dbc15d0d21cdbull},
    {"tests/fuzz/corpus/fuzz_keras/k2_merge.h5", 3, 0x65927a2187a0b465ull, 1, 0xe1ada440e27cceffull, 7, 0xf16313e0f9894129ull},
    {"tests/fuzz/corpus/fuzz_keras/k2_mha.h5", 8, 0x6f17cadb1c615d40ull, 1, 0x6881d126adbbb8b9ull, 3, 0xf02ecf6d0e213b4full},
    {"tests/fuzz/corpus/fuzz_keras/k2_pool.h5", 2, 0xca3edb3035076e76ull, 1, 0x9429b90ff8304ab3ull, 11, 0x389668374c6d0a8full},
    {"tests/fuzz/corpus/fuzz_keras/k2_pool_split.h5", 2, 0xca3edb3035076e76ull, 1, 0x9429b90ff8304ab3ull, 11, 0x389668374c6d0a8full},
    {"tests/fuzz/corpus/fuzz_keras/k2_pool_vlstr.h5", 2, 0xca3edb3035076e76ull, 1, 0x098b3317472ecd43ull, 11, 0x389668374c6d0a8full},
    {"tests/fuzz/corpus/fuzz_keras/k2_seq.h5", 4, 0x187e8f613a543318ull, 1, 0x055cabfcb0b2849eull, 10, 0x923999997b460c1eull},
    {"tests/fuzz/corpus/fuzz_keras/k3_cnn.h5", 6, 0xf09a444f69dd3100ull, 1, 0xae992e2715a15479ull, 4, 0x60191a7ac7dd572eull},
    {"tests/fuzz/corpus/fuzz_keras/k3_cnn.keras", 6, 0x2c75c0ec77b2ca1aull, 0, 0x0000000000000000ull, 0, 0x0000000000000000ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_dense.h5", 4, 0xf34c64b3c6d3c0b4ull, 1, 0x46198c10bf2fde12ull, 2, 0x3aefcbff5939e355ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_dense.keras", 4, 0xe265ec78017eea3aull, 0, 0x0000000000000000ull, 0, 0x0000000000000000ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_dw.h5", 4, 0x69499b02ef8781ccull, 1, 0x92efd33777ae1cdcull, 4, 0xc55846985a2b6976ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_dw.keras", 4, 0x8bc7419a702a0fa4ull, 0, 0x0000000000000000ull, 0, 0x0000000000000000ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_merge.h5", 3, 0xa6883f986f2b0403ull, 1, 0x42bc3d9d09dec5d4ull, 7, 0x43a8d854756bfe34ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_merge.keras", 3, 0xd0fa162c03f9aad5ull, 0, 0x0000000000000000ull, 0, 0x0000000000000000ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_mha.h5", 8, 0x0cdf0242b468af8eull, 1, 0x094b7c404bf02966ull, 3, 0x91d9f382f3ecac50ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_mha.keras", 8, 0xd8d26dacb132a1d0ull, 0, 0x0000000000000000ull, 0, 0x0000000000000000ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_pool.h5", 2, 0x0ef2a392d770ba92ull, 1, 0xfe4edf8a2b47819dull, 11, 0xb15c0a9fbbe579d6ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_pool.keras", 2, 0xfe60574690b2108dull, 0, 0x0000000000000000ull, 0, 0x0000000000000000ull},
    {"tests/fuzz/corpus/fuzz_keras/k3_seq.h5", 4, 0x8a459b4e84d76f0eull, 1, 0x083a20dd1b484af3ull, 10, 0xe5a12fc9d3f5b50bull},
    {"tests/fuzz/corpus/fuzz_keras/k3_seq.keras", 4, 0x94f752b79def02a5ull, 0, 0x0000000000000000ull, 0, 0x0000000000000000ull},
};

/* The bytes of a file in the table (a .keras: its model.weights.h5); malloc'ed, NULL if absent. */
static uint8_t *load_file(const char *rel, size_t *n_out)
{
    char path[2048];
    const char *env = getenv("TFMQ_SHARED");
    if (strncmp(rel, "models/", 7) == 0) {
        snprintf(path, sizeof(path), "%s/%s", env && *env ? env : TFMQ_SOURCE_DIR "/../shared",
                 rel);
    } else {
        snprintf(path, sizeof(path), "%s/%s", TFMQ_SOURCE_DIR, rel);
    }
    uint8_t *buf = NULL;
    *n_out = 0;
    if (strstr(rel, ".keras")) {
        int err = 0;
        zip_t *z = zip_open(path, ZIP_RDONLY, &err);
        zip_stat_t zs;
        if (!z) {
            return NULL;
        }
        if (zip_stat(z, "model.weights.h5", 0, &zs) == 0) {
            zip_file_t *zf = zip_fopen(z, "model.weights.h5", 0);
            buf = malloc(zs.size + 1);
            if (zf && zip_fread(zf, buf, zs.size) == (zip_int64_t)zs.size) {
                *n_out = zs.size;
            } else {
                free(buf);
                buf = NULL;
            }
            if (zf) {
                zip_fclose(zf);
            }
        }
        zip_discard(z);
        return buf;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        return NULL;
    }
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)sz + 1);
    if (fread(buf, 1, (size_t)sz, fp) != (size_t)sz) {
        free(buf);
        buf = NULL;
    } else {
        *n_out = (size_t)sz;
    }
    fclose(fp);
    return buf;
}

static void test_real_files(tq_rng *rng)
{
    (void)rng;
    size_t n_checked = 0;
    for (size_t i = 0; i < sizeof(g_files) / sizeof(g_files[0]); i++) {
        size_t n = 0, n_ds = 0;
        uint64_t h = 0;
        uint8_t *buf = load_file(g_files[i].file, &n);
        tq_h5_file *f = NULL;
        if (!buf) {
            printf("test_h5read: %s absent, skipped\n", g_files[i].file);
            continue;
        }
        tfmq_status st = tq_h5_open_image(NULL, buf, n, &f);
        TQ_EXPECT(st == TFMQ_OK, "%s: %s", g_files[i].file, tfmq_last_error());
        if (st == TFMQ_OK) {
            st = hash_file(f, &n_ds, &h);
            TQ_EXPECT(st == TFMQ_OK, "%s: %s", g_files[i].file, tfmq_last_error());
            TQ_EXPECT(n_ds == g_files[i].n_dsets && h == g_files[i].hash,
                      "%s: %zu datasets hash 0x%016" PRIx64 ", expected %zu 0x%016" PRIx64,
                      g_files[i].file, n_ds, h, g_files[i].n_dsets, g_files[i].hash);
            if (g_files[i].n_config) {
                strs s;
                TQ_EXPECT_OK(read_strs(f, "", "model_config", &s));
                TQ_EXPECT(s.n == g_files[i].n_config && s.hash == g_files[i].config_hash,
                          "%s: model_config", g_files[i].file);
                TQ_EXPECT_OK(read_strs(f, "model_weights", "layer_names", &s));
                TQ_EXPECT(s.n == g_files[i].n_layers && s.hash == g_files[i].layers_hash,
                          "%s: layer_names: %zu strings", g_files[i].file, s.n);
            }
            n_checked++;
        }
        tq_h5_close(f);
        free(buf);
    }
    TQ_EXPECT(n_checked >= 24, "only %zu files checked", n_checked);
    /* the path API reads the same */
    char path[2048];
    tq_h5_file *f = NULL;
    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_keras/k2_dense.h5", TFMQ_SOURCE_DIR);
    TQ_EXPECT_OK(tq_h5_open_path(NULL, path, (size_t)1 << 30, &f));
    if (f) {
        size_t n_ds = 0;
        uint64_t h = 0;
        TQ_EXPECT_OK(hash_file(f, &n_ds, &h));
        TQ_EXPECT_EQ_U64(h, g_files[4].hash);
        tq_h5_close(f);
    }
    TQ_EXPECT_STATUS(tq_h5_open_path(NULL, path, 100, &f), TFMQ_ERR_UNSUPPORTED);
    TQ_EXPECT(f == NULL, "a failed open leaves no file");
    TQ_EXPECT_STATUS(tq_h5_open_path(NULL, "/nonexistent/x.h5", 100, &f), TFMQ_ERR_IO);
}

/* ---- the embedded files ---- */

static bool near(float y, double r, double rtol)
{
    return fabs((double)y - r) <= rtol * (fabs(r) + 1e-30) + 1e-30;
}

static void check_common(tq_h5_file *f, bool old)
{
    tq_h5_dset d;
    float *x = NULL;
    strs s;
    static const char *const f64s[] = {"g/f64le", "g/f64be", "g/f32be", "g/f16", "g/f16be"};
    for (size_t k = 0; k < 5; k++) {
        TQ_EXPECT_OK(read_f32(f, f64s[k], &d, &x));
        if (!x) {
            continue;
        }
        TQ_EXPECT(d.space.rank == 3 && d.space.dims[0] == 2 && d.space.dims[1] == 3 &&
                  d.space.dims[2] == 4, "%s: shape", f64s[k]);
        for (int i = 0; i < 24; i++) {
            double r = i / 7.0 - 1;
            TQ_EXPECT(k < 3 ? x[i] == (float)r : near(x[i], r, 1.0 / 1024), "%s[%d] = %g",
                      f64s[k], i, (double)x[i]);
        }
        free(x);
    }
    TQ_EXPECT_OK(read_f32(f, "g/i16", &d, &x));
    for (int i = 0; x && i < 24; i++) {
        TQ_EXPECT(x[i] == (float)(int16_t)((i / 7.0 - 1) * 100), "i16[%d] = %g", i, (double)x[i]);
    }
    free(x);
    TQ_EXPECT_OK(read_f32(f, "g/x/i64be", &d, &x));
    for (int i = 0; x && i < 24; i++) {
        TQ_EXPECT(x[i] == (float)(int64_t)((i / 7.0 - 1) * 1000), "i64be[%d] = %g", i,
                  (double)x[i]);
    }
    free(x);
    TQ_EXPECT_OK(read_f32(f, "g/x/u8", &d, &x));
    TQ_CHECK(d.space.rank == 2 && d.space.dims[0] == 4 && d.space.dims[1] == 6);
    for (int i = 0; x && i < 24; i++) {
        TQ_EXPECT(x[i] == (float)(i * 10), "u8[%d] = %g", i, (double)x[i]);
    }
    free(x);
    TQ_EXPECT_OK(read_f32(f, "g/x/scalar", &d, &x));
    TQ_CHECK(x && d.space.rank == 0 && d.space.n_points == 1 && x[0] == 3.25f);
    free(x);
    TQ_EXPECT_OK(read_f32(f, "g/x/empty", &d, &x));
    TQ_CHECK(x && d.space.rank == 2 && d.space.dims[0] == 0 && d.space.n_points == 0);
    free(x);
    TQ_EXPECT_OK(read_f32(f, "g/x/unwritten", &d, &x));
    TQ_CHECK(x && d.space.n_points == 5 && x[0] == 0 && x[4] == 0);
    free(x);
    TQ_EXPECT_OK(read_f32(f, "g/x/compact", &d, &x));
    TQ_CHECK(d.layout == 0);
    for (int i = 0; x && i < 6; i++) {
        TQ_EXPECT(x[i] == (float)i + 0.25f, "compact[%d] = %g", i, (double)x[i]);
    }
    free(x);
    TQ_EXPECT_OK(read_f32(f, "/g//sub/deeper/w", &d, &x));
    for (int i = 0; x && i < 10; i++) {
        TQ_EXPECT(near(x[i], -2 + i * 4.0 / 9, 1e-6), "w[%d] = %g", i, (double)x[i]);
    }
    free(x);
    TQ_EXPECT_OK(read_strs(f, "g", "fixed", &s));
    TQ_CHECK(s.n == 3 && strcmp(s.first, "alpha") == 0 &&
             s.hash == fnv(FNV0, "alpha\nbe\ngamma_long", 19));
    TQ_EXPECT_OK(read_strs(f, "g", "vl", &s));
    TQ_CHECK(s.n == 4 && s.hash == fnv(FNV0, "x\nyy\n\nzzz", 9));
    TQ_EXPECT_OK(read_strs(f, "g", "scalar_vl", &s));
    TQ_CHECK(s.n == 1 && strcmp(s.first, "hello") == 0);
    TQ_EXPECT_STATUS(read_strs(f, "g", "num", &s), TFMQ_ERR_PARSE);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "not a string");
    bool found = true;
    tq_h5_obj o;
    tq_h5_attr at;
    TQ_EXPECT_OK(tq_h5_lookup(tq_h5_root(f), "g/nothing", &found, &o));
    TQ_CHECK(!found);
    TQ_EXPECT_OK(tq_h5_lookup(tq_h5_root(f), "g/f16/below", &found, &o)); /* a dataset: no links */
    TQ_CHECK(!found);
    TQ_EXPECT_OK(tq_h5_attr_find(tq_h5_root(f), "nothing", &found, &at));
    TQ_CHECK(!found);
    if (old) {
        for (int i = 0; i < 12; i++) {
            char p[64];
            snprintf(p, sizeof(p), "many/grp%02d/v", i);
            TQ_EXPECT_OK(read_f32(f, p, &d, &x));
            TQ_EXPECT(x && x[0] == (float)i && x[1] == (float)i, "%s", p);
            free(x);
        }
    } else {
        TQ_EXPECT_STATUS(read_f32(f, "many/grp00/v", &d, &x), TFMQ_ERR_UNSUPPORTED);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "densely");
    }
}

static void test_embedded_old(tq_rng *rng)
{
    (void)rng;
    size_t n = 0;
    uint8_t *buf = unpack(g_old_h5_z64, &n);
    tq_h5_file *f = NULL;
    TQ_CHECK(buf != NULL);
    TQ_EXPECT_OK(tq_h5_open_image(NULL, buf, n, &f));
    if (f) {
        check_common(f, true);
        static const char *const ch[] = {"g/c/chunk_plain", "g/c/chunk_gzip",
                                         "g/c/chunk_shuf", "g/c/chunk_f32"};
        for (size_t k = 0; k < 4; k++) {
            tq_h5_dset d;
            float *x = NULL;
            TQ_EXPECT_OK(read_f32(f, ch[k], &d, &x));
            TQ_CHECK(d.layout == 2 && d.space.dims[0] == 37 && d.space.dims[1] == 23);
            int bad = 0;
            for (int i = 0; x && i < 37 * 23; i++) {
                bad += x[i] != (float)i * 0.5f - 100;
            }
            TQ_EXPECT(x && bad == 0, "%s: %d wrong", ch[k], bad);
            free(x);
        }
        tq_h5_dset d;
        float *x = NULL;
        TQ_EXPECT_STATUS(read_f32(f, "g/c/chunk_lzf", &d, &x), TFMQ_ERR_UNSUPPORTED);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "filter 32000");
    }
    tq_h5_close(f);
    free(buf);
}

static void test_embedded_new(tq_rng *rng)
{
    (void)rng;
    size_t n = 0;
    uint8_t *buf = unpack(g_new_h5_z64, &n);
    tq_h5_file *f = NULL;
    TQ_CHECK(buf != NULL);
    TQ_EXPECT_OK(tq_h5_open_image(NULL, buf, n, &f));
    if (f) {
        tq_h5_dset d;
        float *x = NULL;
        bool found;
        tq_h5_obj o;
        tq_h5_attr at;
        check_common(f, false);
        TQ_EXPECT_STATUS(read_f32(f, "chunk_v4", &d, &x), TFMQ_ERR_UNSUPPORTED);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "version 4");
        TQ_EXPECT_STATUS(tq_h5_lookup(tq_h5_root(f), "soft/f16", &found, &o),
                         TFMQ_ERR_UNSUPPORTED);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "soft");
        TQ_EXPECT_OK(tq_h5_lookup(tq_h5_root(f), "dense_attrs", &found, &o));
        TQ_EXPECT_STATUS(tq_h5_attr_find(o, "a0", &found, &at), TFMQ_ERR_UNSUPPORTED);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "densely");
    }
    tq_h5_close(f);
    free(buf);
}

/* ---- hostile input ---- */

/* Open and read all of (buf, n): a failure must carry a message; a success must read as `want`
 * unless any_ok (bit flips may change data without breaking anything). */
static void torture_one(const uint8_t *buf, size_t n, uint64_t want, bool any_ok,
                        const char *what, size_t at)
{
    tq_h5_file *f = NULL;
    tq_clear_error();
    tfmq_status st = tq_h5_open_image(NULL, buf, n, &f);
    if (st == TFMQ_OK) {
        size_t n_ds = 0;
        uint64_t h = 0;
        st = hash_file(f, &n_ds, &h);
        if (st == TFMQ_OK && !any_ok) {
            TQ_EXPECT(h == want, "%s at %zu: read different data without an error", what, at);
        }
        tq_h5_close(f);
    }
    if (st != TFMQ_OK) {
        TQ_EXPECT(tfmq_last_error()[0] != '\0', "%s at %zu: failed without a message", what, at);
    }
}

static void torture(const uint8_t *src, size_t n, const char *what)
{
    uint8_t *buf = malloc(n);
    size_t n_ds = 0;
    uint64_t want = 0;
    tq_h5_file *f = NULL;
    memcpy(buf, src, n);
    TQ_EXPECT_OK(tq_h5_open_image(NULL, buf, n, &f));
    bool whole = f && hash_file(f, &n_ds, &want) == TFMQ_OK; /* else: failures only */
    tq_h5_close(f);
    for (size_t cut = 0; cut < n; cut++) {
        /* a copy of exactly `cut` bytes, so that ASan sees any read past it */
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, src, cut);
        torture_one(t, cut, want, !whole, what, cut);
        /* again with the superblock's end-of-file address saying `cut` (offsets of 8 bytes),
         * so that the walk goes past the open's truncation check */
        if (cut >= 48 && src[8] <= 1) {
            for (int b = 0; b < 8; b++) {
                t[40 + b] = (uint8_t)((uint64_t)cut >> (8 * b));
            }
            torture_one(t, cut, want, true, what, cut);
        } else if (cut >= 48) {
            for (int b = 0; b < 8; b++) {
                t[28 + b] = (uint8_t)((uint64_t)cut >> (8 * b));
            }
            uint32_t c = tq_h5_checksum(t, 44);
            for (int b = 0; b < 4; b++) {
                t[44 + b] = (uint8_t)(c >> (8 * b));
            }
            torture_one(t, cut, want, true, what, cut);
        }
        free(t);
    }
    size_t flips = n < 4096 ? n : 4096;
    for (size_t i = 0; i < flips; i++) {
        for (int b = 0; b < 8; b++) {
            buf[i] ^= (uint8_t)(1u << b);
            torture_one(buf, n, want, true, what, i);
            buf[i] ^= (uint8_t)(1u << b);
        }
    }
    free(buf);
}

static void test_hostile(tq_rng *rng)
{
    (void)rng;
    size_t n = 0;
    uint8_t *buf = load_file("tests/fuzz/corpus/fuzz_keras/k2_dense.h5", &n);
    if (buf) {
        torture(buf, n, "k2_dense.h5");
        free(buf);
    }
    buf = load_file("tests/fuzz/corpus/fuzz_keras/k2_dw_v2headers.h5", &n);
    if (buf) {
        torture(buf, n, "k2_dw_v2headers.h5");
        free(buf);
    }
    buf = unpack(g_new_h5_z64, &n);
    if (buf) {
        torture(buf, n, "new.h5"); /* its walk ends at a refusal (dense links) */
        free(buf);
    }
    buf = load_file("tests/fuzz/corpus/fuzz_keras/k2_pool_vlstr.h5", &n);
    if (buf) {
        torture(buf, n, "k2_pool_vlstr.h5");
        free(buf);
    }
    /* the crash libhdf5 1.10 had: an attribute name not terminated inside its chunk */
    buf = load_file("tests/fuzz/regressions/fuzz_keras/libhdf5_attr_name_past_chunk.h5", &n);
    TQ_CHECK(buf != NULL);
    if (buf) {
        torture_one(buf, n, 0, true, "libhdf5_attr_name_past_chunk.h5", 0);
        free(buf);
    }
    /* the checksum is lookup3's: hashlittle("", 0) and a known vector */
    TQ_EXPECT_EQ_U64(tq_h5_checksum("", 0), 0xdeadbeefu);
    TQ_EXPECT_EQ_U64(tq_h5_checksum("Four score and seven years ago", 30), 0x17770551u);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_real_files);
    TQ_RUN(test_embedded_old);
    TQ_RUN(test_embedded_new);
    TQ_RUN(test_hostile);
    return tq_test_end();
}
