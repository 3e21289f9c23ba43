// One module importing the three packages statically: Vite 8 (rolldown) then puts them in one chunk.
export * as core from '@cornerstonejs/core'
export * as loader from '@cornerstonejs/dicom-image-loader'
export * as tools from '@cornerstonejs/tools'
