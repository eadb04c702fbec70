/*
 * What a Multiboot loader leaves in memory for the kernel: the v1 boot
 * information structure (GRUB's `multiboot`, QEMU's -kernel; Multiboot
 * Specification 0.6.96, section 3.3) and the v2 tag list (GRUB's
 * `multiboot2`; Multiboot2 Specification 2.0, section 3.6).
 */
#ifndef MIO_ARCH_X86_MULTIBOOT_H
#define MIO_ARCH_X86_MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002 /* in EAX at entry */

/* multiboot_info.flags: which fields are valid */
#define MULTIBOOT_INFO_MEMORY (1u << 0)
#define MULTIBOOT_INFO_CMDLINE (1u << 2)
#define MULTIBOOT_INFO_MODS (1u << 3)
#define MULTIBOOT_INFO_MEM_MAP (1u << 6)
#define MULTIBOOT_INFO_LOADER_NAME (1u << 9)

/* multiboot_mmap_entry.type */
#define MULTIBOOT_MEMORY_AVAILABLE 1
#define MULTIBOOT_MEMORY_RESERVED 2
#define MULTIBOOT_MEMORY_ACPI_RECLAIMABLE 3
#define MULTIBOOT_MEMORY_NVS 4
#define MULTIBOOT_MEMORY_BADRAM 5

struct __attribute__((packed)) multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB below 1 MiB, KiB above 1 MiB (first block only) */
	uint32_t boot_device;
	uint32_t cmdline;              /* physical address of a NUL-terminated string */
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info, vbe_mode_info;
	uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
	uint64_t framebuffer_addr;
	uint32_t framebuffer_pitch, framebuffer_width, framebuffer_height;
	uint8_t framebuffer_bpp, framebuffer_type;
	uint8_t color_info[6];
};

/* One memory map entry; `size` counts the bytes after itself, so entries may grow. */
struct __attribute__((packed)) multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;
};

struct __attribute__((packed)) multiboot_module {
	uint32_t mod_start, mod_end; /* [start, end) physical */
	uint32_t string;             /* physical address of the module's command line */
	uint32_t reserved;
};

/* Multiboot2: EAX holds this magic and EBX the info's address at entry. */
#define MULTIBOOT2_BOOTLOADER_MAGIC 0x36d76289

/* The info starts with its total size; tags follow, each 8-byte aligned. */
struct multiboot2_info_header {
	uint32_t total_size; /* bytes, this header and the end tag included */
	uint32_t reserved;
};

#define MULTIBOOT2_TAG_ALIGN 8
#define MULTIBOOT2_TAG_END 0
#define MULTIBOOT2_TAG_CMDLINE 1
#define MULTIBOOT2_TAG_LOADER_NAME 2
#define MULTIBOOT2_TAG_MODULE 3
#define MULTIBOOT2_TAG_MMAP 6

struct multiboot2_tag {
	uint32_t type;
	uint32_t size; /* bytes, this header included, padding to the next tag excluded */
};

struct multiboot2_tag_string { /* CMDLINE, LOADER_NAME */
	struct multiboot2_tag tag;
	char string[];
};

struct multiboot2_tag_module {
	struct multiboot2_tag tag;
	uint32_t mod_start, mod_end; /* [start, end) physical */
	char string[];
};

struct multiboot2_tag_mmap {
	struct multiboot2_tag tag;
	uint32_t entry_size; /* at least sizeof(struct multiboot2_mmap_entry); entries may grow */
	uint32_t entry_version;
	/* entries follow */
};

struct __attribute__((packed)) multiboot2_mmap_entry {
	uint64_t addr;
	uint64_t len;
	uint32_t type; /* the same values as v1's */
	uint32_t reserved;
};

#endif
