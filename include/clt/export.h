/* clt — symbol visibility. The library is built with hidden visibility; only what is
 * marked CLT_API is part of the ABI. */
#ifndef CLT_EXPORT_H
#define CLT_EXPORT_H

#if defined(_WIN32) && defined(CLT_BUILDING_SHARED)
#define CLT_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CLT_API __attribute__((visibility("default")))
#else
#define CLT_API
#endif

#endif
